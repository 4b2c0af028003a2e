# kb, CPU only: the web page and JSON API on port 8000, the knowledge base in the volume /data.
#   docker build -t kb .
#   docker run -p 8000:8000 -v kb-data:/data kb          (or: docker compose up)
# The image runs the Makefile's own steps: `make install-server` builds the environment as
# `make run` does, and the container's command is `make run`.
FROM python:3.11-slim

RUN apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends make tesseract-ocr \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml Makefile README.md ./
COPY kb kb
COPY index index
COPY webapp webapp
COPY data data

# PyTorch's CPU build comes from its own index outside this project's build machine.
ARG TORCH="torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu"
RUN make install-server VENV=/opt/kb TORCH="$TORCH" && rm -rf /root/.cache/pip

ENV KB_HOME=/data \
    XDG_CACHE_HOME=/data/.cache \
    PYTHONUNBUFFERED=1
VOLUME /data
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/api/v1/ready', timeout=4)"
CMD ["make", "run", "VENV=/opt/kb", "HOST=0.0.0.0", "PORT=8000"]
