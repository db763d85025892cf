# One image for every guestwork process (migrations, API, workers, beat); the command picks the role.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY config ./config
COPY workflows ./workflows
COPY services ./services
COPY workers ./workers
RUN pip install --no-cache-dir . && useradd --create-home guestwork
USER guestwork
CMD ["guestwork", "--help"]
