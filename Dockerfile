# One image for every guestwork process (migrations, API, workers, beat); the command picks the role.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
# The PDF export (WeasyPrint) needs Pango, HarfBuzz's subsetter and a font with Vietnamese letters.
RUN apt-get update && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md ./
COPY config ./config
COPY workflows ./workflows
COPY services ./services
COPY workers ./workers
RUN pip install --no-cache-dir . && useradd --create-home guestwork
USER guestwork
CMD ["guestwork", "--help"]
