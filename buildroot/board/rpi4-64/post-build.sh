#!/usr/bin/env bash
# Post-build script of the Raspberry Pi 4 board (BR2_ROOTFS_POST_BUILD_SCRIPT):
# fills in the shared box.toml (image/rootfs/etc/twincap/box.toml, laid
# by the rootfs overlay) the way image/build does for QEMU, adds the
# update section, writes the version into os-release (IMAGE_ID and
# IMAGE_VERSION, which sysupdate's ProtectVersion=%A, the daemon and
# post-image.sh's slot labels read), and enables the units: the daemon,
# the shared self-test gating boot-complete.target (image/ab/rootfs) and
# the Pi's tryboot bless.
#
# Settings (environment of the buildroot make):
#   TWINCAP_VERSION      this build's version, dotted numbers (0.1.0); each
#                        update must be newer than the one it replaces
#   TWINCAP_PREFERRED    preferred server (twincap-preferred:0: a name the site's DNS gives)
#   TWINCAP_REDUNDANT    redundant server (twincap-redundant:0)
#   TWINCAP_CAMERA       V4L2 device (/dev/video0: a USB camera)
#   TWINCAP_MICROPHONE   ALSA device (default)
#   TWINCAP_UPDATE_SOURCE  HTTPS update source; empty: remote updates off
#   TWINCAP_UPDATE_KEYS    PEM file of the release public key(s); required with a source
#   TWINCAP_UPDATE_CA      the source's CA (PEM); empty: the system's roots
set -euo pipefail
target=$1
board=rpi4-64
preferred=${TWINCAP_PREFERRED:-twincap-preferred:0}
redundant=${TWINCAP_REDUNDANT:-twincap-redundant:0}
camera=${TWINCAP_CAMERA:-/dev/video0}
microphone=${TWINCAP_MICROPHONE:-default}
version=${TWINCAP_VERSION:-0.1.0}
fail() { echo "twincap post-build: $*" >&2; exit 1; }
[[ $version =~ ^[0-9]+(\.[0-9]+){0,3}$ ]] || fail "TWINCAP_VERSION $version: want dotted numbers (1.4.0)"

osrel="$target/usr/lib/os-release"
[ -f "$osrel" ] || fail "$osrel missing"
sed -i -e '/^IMAGE_ID=/d' -e '/^IMAGE_VERSION=/d' "$osrel"
printf 'IMAGE_ID=twincap\nIMAGE_VERSION=%s\n' "$version" >> "$osrel"

toml="$target/etc/twincap/box.toml"
[ -f "$toml" ] || fail "$toml missing: is image/rootfs in BR2_ROOTFS_OVERLAY?"
sed -i -e "s|@PREFERRED@|$preferred|" -e "s|@REDUNDANT@|$redundant|" \
  -e "s|@CAMERA@|$camera|" -e "s|@MICROPHONE@|$microphone|" "$toml"
if grep -n '@[A-Z]*@' "$toml"; then
  fail "box.toml: a placeholder is left"
fi

if [ -n "${TWINCAP_UPDATE_SOURCE:-}" ]; then
  [ -f "${TWINCAP_UPDATE_KEYS:-}" ] || fail "TWINCAP_UPDATE_SOURCE is set but TWINCAP_UPDATE_KEYS is not a file"
  install -D -m 0644 "$TWINCAP_UPDATE_KEYS" "$target/etc/twincap/update-keys.pem"
  ca=""
  if [ -n "${TWINCAP_UPDATE_CA:-}" ]; then
    install -D -m 0644 "$TWINCAP_UPDATE_CA" "$target/etc/twincap/update-ca.pem"
    ca='ca_file = "/etc/twincap/update-ca.pem"'
  fi
  grep -q '^\[update\]' "$toml" || cat >> "$toml" <<TOML

[update]
source = "$TWINCAP_UPDATE_SOURCE"
$ca
public_keys = ["/etc/twincap/update-keys.pem"]
board = "$board"
installer = "tryboot"
TOML
fi

units="$target/etc/systemd/system"
[ -f "$units/twincap-selftest.service" ] || fail "twincap-selftest.service missing: is image/ab/rootfs in BR2_ROOTFS_OVERLAY?"
mkdir -p "$units/multi-user.target.wants" "$units/local-fs.target.wants" "$units/boot-complete.target.requires"
for u in twincap-box.service twincap-selftest.service twincap-tryboot-bless.service; do
  ln -sf "../$u" "$units/multi-user.target.wants/$u"
done
ln -sf ../twincap-selftest.service "$units/boot-complete.target.requires/twincap-selftest.service"
for u in var-lib-twincap.mount boot-autoboot.mount; do
  ln -sf "../$u" "$units/local-fs.target.wants/$u"
done
mkdir -p "$target/var/lib/twincap" "$target/boot/autoboot"
