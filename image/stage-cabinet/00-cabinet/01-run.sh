#!/bin/bash -e
# The cabinet's packages, built with `make deb` on an arm64 machine and put in files/debs/
# (docs/deployment.md, "A Raspberry Pi image"). apt installs them with their dependencies.
shopt -s nullglob
debs=(files/debs/cabinetd_*_arm64.deb files/debs/cabinetd-kiosk_*_all.deb)
if [ "${#debs[@]}" -ne 2 ]; then
	echo "stage-cabinet: put one cabinetd_*_arm64.deb and one cabinetd-kiosk_*_all.deb in files/debs/" >&2
	exit 1
fi
install -d "${ROOTFS_DIR}/tmp/cabinet-debs"
install -m 644 "${debs[@]}" "${ROOTFS_DIR}/tmp/cabinet-debs/"

on_chroot << 'CHROOT'
apt-get install -y --no-install-recommends /tmp/cabinet-debs/*.deb
rm -rf /tmp/cabinet-debs
# The kiosk on tty1 at boot (the package enables it for graphical.target).
systemctl set-default graphical.target
CHROOT
