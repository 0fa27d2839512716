"""The Service Center for customers (C9): inquiries, requests for service, their state and answers, service history."""
