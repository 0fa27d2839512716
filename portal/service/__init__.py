"""The Service Center for customers (C9): general inquiries, requests for service, their state and answers, and service history."""
