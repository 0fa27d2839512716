"""The Service Center's domain: customers' inquiries and requests for service, staff's work on them, service history."""
