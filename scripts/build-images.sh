#!/usr/bin/env bash
# Build the local test/example images without any registry.
#
# ctrlplane-example/busybox:latest is a `docker import` of a tiny root filesystem made from Debian's
# busybox-static: the busybox binary, a symlink per applet, a POSIX-sh `printenv` (Debian's build
# lacks that applet), /tmp, /etc/passwd and /etc/group with root and nobody, an empty
# /run/secrets and /var/www/index.html. The image carries the label
# io.ctrlplane.recipe=<hash of this recipe and the busybox binary>; it is rebuilt only when that
# hash changes or the image is missing. It is also tagged ctrlplane-conformance/busybox:1..4 for
# the conformance suite (distinct references of one image).
#
# ctrlplane-front:1 (DockerConfig.front_image) holds an instance's published ports: a scratch image
# with Debian's socat and exactly the shared libraries `ldd` lists for it (glibc's DNS lookup is
# part of libc.so.6 since 2.34, so Docker's embedded DNS answers it), entrypoint socat. Debian's
# socat package is installed first when missing (as root; the only step that needs the network).
# It carries its own recipe label and is rebuilt only when that changes.
#
# ctrlplane-pod:1 (DockerConfig.pod_image) holds each replica unit's network namespace: a scratch
# image with the busybox binary and its sh and sleep applets; its entrypoint waits (sleep) until
# SIGTERM, which its trap turns into a clean exit. It carries its own recipe label.
#
# Every step after the package installs is offline: no registry, no downloads.
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=ctrlplane-example/busybox:latest
BUSYBOX=${CTRLPLANE_BUSYBOX:-/bin/busybox}
FRONT_IMAGE=ctrlplane-front:1
POD_IMAGE=ctrlplane-pod:1
SOCAT=${CTRLPLANE_SOCAT:-/usr/bin/socat}

# install_socat : Debian's socat package (as root), refreshing the package index only if needed
install_socat() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "build-images: $SOCAT missing and installing socat needs root" >&2
    return 1
  fi
  echo "build-images: installing socat" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends socat >&2 \
    || { apt-get update -qq >&2 && apt-get install -y -qq --no-install-recommends socat >&2; }
}

# image_recipe IMAGE : the recipe label of IMAGE ("" when it is missing)
image_recipe() {
  docker image inspect -f '{{ index .Config.Labels "io.ctrlplane.recipe" }}' "$1" 2>/dev/null || true
}

# build_front : (re)build $FRONT_IMAGE when its recipe changed or it is missing
build_front() {
  if [ ! -x "$SOCAT" ] && [ -z "${CTRLPLANE_SOCAT:-}" ]; then
    install_socat
  fi
  if [ ! -x "$SOCAT" ]; then
    echo "build-images: $SOCAT missing (install socat)" >&2
    return 1
  fi
  local libs recipe previous froot
  libs=$(ldd "$SOCAT" | grep -o '/[^ ]*' | sort -u)
  # shellcheck disable=SC2086 # one path per word
  recipe=$( { sed -n '/^build_front()/,/^}/p' "$0"; sha256sum "$SOCAT" $libs; } | sha256sum | cut -c1-16)
  if [ "$(image_recipe "$FRONT_IMAGE")" = "$recipe" ]; then
    return 0
  fi
  echo "build-images: building $FRONT_IMAGE (recipe $recipe)" >&2
  previous=$(docker image inspect -f '{{.Id}}' "$FRONT_IMAGE" 2>/dev/null || true)
  froot=$(mktemp -d)
  mkdir -p "$froot/usr/bin" "$froot/etc" "$froot/tmp"
  chmod 1777 "$froot/tmp"
  cp "$SOCAT" "$froot/usr/bin/socat"
  for lib in $libs; do
    mkdir -p "$froot$(dirname "$lib")"
    cp -L "$lib" "$froot$lib"
  done
  echo 'hosts: files dns' >"$froot/etc/nsswitch.conf"
  printf 'root:x:0:0:root:/:/usr/bin/socat\nnobody:x:65534:65534:nobody:/nonexistent:/usr/bin/socat\n' >"$froot/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$froot/etc/group"
  tar -C "$froot" -c . | docker import \
    --change 'ENTRYPOINT ["/usr/bin/socat"]' \
    --change "LABEL io.ctrlplane.recipe=$recipe" \
    - "$FRONT_IMAGE" >/dev/null
  rm -rf "$froot"
  echo "build-images: built $FRONT_IMAGE" >&2
  if [ -n "$previous" ]; then docker rmi "$previous" >/dev/null 2>&1 || true; fi
}

# build_pod : (re)build $POD_IMAGE when its recipe changed or it is missing
build_pod() {
  local recipe previous proot
  recipe=$( { sed -n '/^build_pod()/,/^}/p' "$0"; sha256sum "$BUSYBOX"; } | sha256sum | cut -c1-16)
  if [ "$(image_recipe "$POD_IMAGE")" = "$recipe" ]; then
    return 0
  fi
  echo "build-images: building $POD_IMAGE (recipe $recipe)" >&2
  previous=$(docker image inspect -f '{{.Id}}' "$POD_IMAGE" 2>/dev/null || true)
  proot=$(mktemp -d)
  mkdir -p "$proot/bin"
  cp "$BUSYBOX" "$proot/bin/busybox"
  ln -s busybox "$proot/bin/sh"
  ln -s busybox "$proot/bin/sleep"
  tar -C "$proot" -c . | docker import \
    --change 'ENTRYPOINT ["/bin/sh", "-c", "trap \"exit 0\" TERM INT; while :; do sleep 3600 & wait $!; done"]' \
    --change "LABEL io.ctrlplane.recipe=$recipe" \
    - "$POD_IMAGE" >/dev/null
  rm -rf "$proot"
  echo "build-images: built $POD_IMAGE" >&2
  if [ -n "$previous" ]; then docker rmi "$previous" >/dev/null 2>&1 || true; fi
}

if [ ! -x "$BUSYBOX" ]; then
  echo "build-images: $BUSYBOX missing (install busybox-static)" >&2
  exit 1
fi
if ! "$BUSYBOX" --list >/dev/null 2>&1 || ! file -b "$BUSYBOX" 2>/dev/null | grep -q static; then
  # `file` may be absent; fall back to ldd's verdict
  if ldd "$BUSYBOX" >/dev/null 2>&1; then
    echo "build-images: $BUSYBOX is not statically linked (install busybox-static)" >&2
    exit 1
  fi
fi

# The conformance suite's images: distinct references (versions 1-4) of the same image.
tag_conformance() {
  local id
  id=$(docker image inspect -f '{{.Id}}' "$IMAGE")
  for v in 1 2 3 4; do
    if [ "$(docker image inspect -f '{{.Id}}' "ctrlplane-conformance/busybox:$v" 2>/dev/null)" != "$id" ]; then
      docker tag "$IMAGE" "ctrlplane-conformance/busybox:$v"
    fi
  done
}

build_front
build_pod

recipe=$( { sed '/^build_front()/,/^}/d; /^build_pod()/,/^}/d' "$0"; sha256sum "$BUSYBOX"; } | sha256sum | cut -c1-16)
if [ "$(image_recipe "$IMAGE")" = "$recipe" ]; then
  tag_conformance
  exit 0
fi

echo "build-images: building $IMAGE (recipe $recipe)" >&2
previous=$(docker image inspect -f '{{.Id}}' "$IMAGE" 2>/dev/null || true)
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,root,run/secrets,var/www,proc,sys,dev}
chmod 1777 "$root/tmp"
cp "$BUSYBOX" "$root/bin/busybox"
for applet in $("$BUSYBOX" --list-full); do
  [ "$applet" = "bin/busybox" ] && continue
  mkdir -p "$root/$(dirname "$applet")"
  ln -sf /bin/busybox "$root/$applet"
done
cat >"$root/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
cat >"$root/etc/group" <<'GROUP'
root:x:0:
nogroup:x:65534:
GROUP
echo 'hello from ctrlplane-example' >"$root/var/www/index.html"
# Debian's busybox-static has no printenv applet: a POSIX sh stand-in.
if [ ! -e "$root/usr/bin/printenv" ]; then
  cat >"$root/usr/bin/printenv" <<'PRINTENV'
#!/bin/sh
# printenv [NAME...]: print the environment, or the values of NAMEs (exit 1 if one is unset)
[ $# -eq 0 ] && exec env
rc=0
for name in "$@"; do
  case $name in *[!A-Za-z0-9_]* | '' | [0-9]*) rc=1; continue ;; esac
  if eval "[ \"\${$name+set}\" = set ]"; then eval "printf '%s\\n' \"\$$name\""; else rc=1; fi
done
exit $rc
PRINTENV
  chmod 755 "$root/usr/bin/printenv"
fi

tar -C "$root" -c . | docker import \
  --change 'CMD ["/bin/sh"]' \
  --change 'ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin' \
  --change "LABEL io.ctrlplane.recipe=$recipe" \
  - "$IMAGE" >/dev/null
echo "build-images: built $IMAGE" >&2
tag_conformance
# drop the previous build unless something still uses it
[ -n "$previous" ] && docker rmi "$previous" >/dev/null 2>&1 || true
