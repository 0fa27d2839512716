"""The staff side of the Service Center (S1): the queue of requests; taking, answering, scheduling, completing."""
