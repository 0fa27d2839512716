"""What we did (issue 14, D2 for customers): the customer's account of an incident, linked from the signal history."""
