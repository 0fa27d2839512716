"""Insurance certificates of alarm monitoring (C10): the services certified, issuing, the PDF, public verification."""
