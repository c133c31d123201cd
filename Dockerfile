# One image for every SignalPost service: `signalpost run SERVICE` picks which.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY schemas schemas
COPY services services
COPY infra infra
RUN pip install --no-cache-dir . && useradd --system --no-create-home signalpost
USER signalpost
ENV SIGNALPOST_LOG_FORMAT=json
ENTRYPOINT ["signalpost"]
CMD ["status"]
