# The build image: the Lambda Python image of the target (official by default, by digest if you
# pin one) plus the standard-library scripts that run inside it (install, probe, invoke, the zip
# and layer writers) and the hash-locked pin of the optional installer uv. Nothing else is added, so what is
# installed, probed and packed is exactly what the runtime has, and the zip's deflated bytes are
# the image's zlib's, whatever the host.
#
# build.py builds this through the engine's API for the target platform, with
#   --build-arg BASE_IMAGE=public.ecr.aws/lambda/python:3.13-arm64 (or your --base-image)
# and tags it by a hash of this file, the scripts and the base image's ID, so the engine reuses it.
ARG BASE_IMAGE=public.ecr.aws/lambda/python:3.13-x86_64
FROM ${BASE_IMAGE}

COPY lambdazip/inside/install.py lambdazip/inside/probe.py lambdazip/inside/invoke.py \
     lambdazip/inside/lambdazip_contract.py lambdazip/inside/lambdazip_zip.py \
     lambdazip/inside/lambdazip_layer.py \
     lambdazip/inside/lambdazip_slim.py lambdazip/inside/lambdazip_bytecode.py \
     lambdazip/inside/lambdazip_io.py lambdazip/inside/lambdazip_results.py \
     lambdazip/inside/lambdazip_memory.py \
     lambdazip/inside/uv-requirements.txt /lambdazip/
WORKDIR /var/task
# The official entrypoint wants exactly one argument, the handler; build work runs its own command.
ENTRYPOINT []
CMD ["/var/lang/bin/python3", "/lambdazip/probe.py", "--kind", "layer"]
LABEL org.opencontainers.image.title="lambdazip build image" \
      io.lambdazip.role="build"
