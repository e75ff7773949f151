package kernel

// BootModules are the modules a Flotilla node loads at boot, for Debian's
// kernel (which builds them as modules, not in). Closure adds their
// dependencies. Init tolerates a module that finds no hardware (ENODEV),
// so hardware drivers for machines other than QEMU's belong here too.
var BootModules = []string{
	// Devices: QEMU's virtio, and common real disks (SATA, NVMe).
	"virtio_pci", "virtio_blk", "virtio_net", "virtio_rng", "virtio_console",
	"qemu_fw_cfg", "ahci", "sd_mod", "nvme",
	// File systems: slots (squashfs), STATE (ext4), ESP (vfat and the
	// code pages FAT mounts default to), EFI variables, container layers.
	"squashfs", "ext4", "vfat", "nls_cp437", "nls_ascii", "nls_utf8",
	"efivarfs", "overlay",
	// Container networking: internal/netbridge's veth pairs on a bridge,
	// and its nftables table (family ip): nat base chains (nft_chain_nat),
	// dnat (nft_nat), masquerade (nft_masq), ct status (nft_ct) and
	// fib daddr type (nft_fib_ipv4). meta, cmp, payload, bitwise,
	// immediate and verdicts are in nf_tables itself.
	"veth", "bridge", "tun",
	"nf_tables", "nft_chain_nat", "nft_nat", "nft_masq", "nft_ct", "nft_fib_ipv4",
}
