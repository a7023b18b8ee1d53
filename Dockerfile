# One image for every Python process of the platform (ingest, consumer, Celery, Flower, MCP, dashboard).
FROM python:3.11.10-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN pip install --no-cache-dir --no-deps . && useradd --create-home app
USER app
ENTRYPOINT ["upbit-llm"]
CMD ["--help"]
