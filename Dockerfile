# One image for every mock service; docker-compose.yml starts one container each.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY harness ./harness
COPY mocks ./mocks
COPY config ./config
RUN pip install --no-cache-dir .
EXPOSE 8080
CMD ["python", "-m", "mocks", "--help"]
