"""Container images in job descriptions: named, and refused, since this cluster cannot run them.

Rules:
- A job whose `container` asks for an image (`Docker(image=...)`, `Container(docker=Docker(...))`,
  `Mesos(image=DockerImage(...) | AppcImage(...))`, or Aurora's thrift shapes `{"docker": ...}`,
  `{"mesos": {"image": ...}}`) is refused, naming the image: its processes would otherwise run on
  the host, without the image they were written for.
- `Mesos()` without an image is Aurora's default container, which runs on the host: accepted.
"""

from __future__ import annotations

from typing import Any


def image_of(container: Any) -> str | None:
    """How the container is written, with its image (`Docker image 'python:3'`), or None when it
    asks for no image."""
    if not isinstance(container, dict):
        return None
    docker = container.get("docker")
    if isinstance(docker, dict):  # Container(docker=Docker(...)), or thrift's DockerContainer
        return f"Docker image {str(docker.get('image', ''))!r}"
    mesos = container.get("mesos")
    if isinstance(mesos, dict):  # thrift's MesosContainer
        return _mesos_image(mesos.get("image"))
    image = container.get("image")
    if isinstance(image, str):  # Docker(image=...)
        return f"Docker image {image!r}"
    return _mesos_image(image)  # Mesos(image=...)


def _mesos_image(image: Any) -> str | None:
    if not isinstance(image, dict) or not image:
        return None
    for kind in ("docker", "appc"):  # thrift's Image union
        if isinstance(image.get(kind), dict):
            image = image[kind]
            break
    name = str(image.get("name", ""))
    if "tag" in image:
        return f"Mesos image DockerImage {name}:{image['tag']}"
    identity = image.get("image_id", image.get("imageId", ""))
    return f"Mesos image AppcImage {name} (image_id {identity})"


def refusal(description: dict[str, Any]) -> str | None:
    """Why the job cannot run here, naming its container, or None when it asks for no image."""
    image = image_of(description.get("container"))
    if image is None:
        return None
    return (f"container: {image} cannot run: this cluster cannot run container images. Remove the "
            f"container from the job to run its processes on the host.")
