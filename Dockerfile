# One image for every SignalPost service: `signalpost run SERVICE` picks which.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY schemas schemas
COPY services services
COPY infra infra
RUN pip install --no-cache-dir . && useradd --system --no-create-home signalpost \
    && mkdir -p /var/lib/signalpost/secrets && chown -R signalpost /var/lib/signalpost \
    && chmod 700 /var/lib/signalpost/secrets
USER signalpost
# Local state, and the Kafka users' generated passwords (a volume shared by the containers).
ENV SIGNALPOST_HOME=/var/lib/signalpost SIGNALPOST_LOG_FORMAT=json
ENTRYPOINT ["signalpost"]
CMD ["status"]
