"""Signal history (C11): what the alarm transmitted, filtered, paged by keyset, exported as CSV."""
