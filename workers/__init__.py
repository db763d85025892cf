"""The Celery side of guestwork: one module per department queue, plus the system tasks."""
