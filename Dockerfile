# The collectors' image: `mlops-dash exporter` (and the jobs of issue 16) with their extras.
# Not built by this repository or its CI: build it in the company's pipeline and push it to the
# registry that collectors.image in specs/platform.yaml names, e.g.
#   docker build -t registry.company.com/ml-platform/mlops-dash-collectors:0.1.0 .
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir --prefix=/install '.[collectors,gcs]'

FROM python:3.11-slim
COPY --from=build /install /usr/local
# the Deployment runs it as this user (uid/gid 65532) on a read-only root filesystem
RUN groupadd --gid 65532 mlops && useradd --uid 65532 --gid 65532 --no-create-home mlops
USER 65532:65532
ENV HOME=/tmp PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
EXPOSE 9210
ENTRYPOINT ["mlops-dash"]
CMD ["exporter", "--config", "/etc/mlops-exporter/platform.yaml"]
