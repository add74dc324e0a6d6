#!/bin/bash -e
# A read-only root with a writable data partition for the ledger (docs/deployment.md).

# The data partition: made at first boot, mounted where cabinetd keeps its state.
install -m 755 files/cabinet-data-setup "${ROOTFS_DIR}/usr/local/sbin/cabinet-data-setup"
install -m 644 files/cabinet-data.service "${ROOTFS_DIR}/etc/systemd/system/cabinet-data.service"
install -d "${ROOTFS_DIR}/etc/systemd/system/cabinetd.service.d"
install -m 644 files/cabinetd-data-partition.conf \
	"${ROOTFS_DIR}/etc/systemd/system/cabinetd.service.d/data-partition.conf"
if ! grep -q "LABEL=cabinet-data" "${ROOTFS_DIR}/etc/fstab"; then
	echo "LABEL=cabinet-data  /var/lib/cabinetd  ext4  defaults,noatime,nodev,nosuid,noexec,x-systemd.device-timeout=90s  0  2" \
		>> "${ROOTFS_DIR}/etc/fstab"
fi
# The boot partition read-only too; `mount -o remount,rw /boot/firmware` for a firmware change.
sed -i -E 's#^(\S+\s+/boot/firmware\s+vfat\s+)(\S+)#\1\2,ro#' "${ROOTFS_DIR}/etc/fstab"

# No root expansion at first boot: the space after the root partition is the data partition's.
sed -i 's# init=/usr/lib/raspberrypi-sys-mods/firstboot##' "${ROOTFS_DIR}/boot/firmware/cmdline.txt"

# The read-only root: overlayroot in the initramfs (the boot configuration's auto_initramfs loads it).
install -m 644 files/overlayroot.local.conf "${ROOTFS_DIR}/etc/overlayroot.local.conf"

on_chroot << 'CHROOT'
systemctl enable cabinet-data.service
update-initramfs -u -k all
CHROOT
