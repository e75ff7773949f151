package uki

import (
	"debug/pe"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// DefaultStub is where Debian's systemd-boot-efi installs the x86-64 stub.
const DefaultStub = "/usr/lib/systemd/boot/efi/linuxx64.efi.stub"

// Options say what goes into the image.
type Options struct {
	Out       string // the image to write (replaced atomically on success)
	Stub      string // systemd-stub; empty means DefaultStub
	Kernel    string // bzImage, e.g. kernel.Kernel.Image
	Initrd    string // e.g. an initramfs.Build output
	Cmdline   string // the kernel command line, as the .cmdline section
	OSRelease string // os-release(5) text, as the .osrel section
	// Logf, when set, gets the objcopy command line.
	Logf func(format string, args ...any)
}

// Section is one section Build adds, where it put it.
type Section struct {
	Name  string
	Flags string // objcopy --set-section-flags value
	File  string // contents
	VMA   uint64
}

// pageSize is ukify's alignment for the sections' virtual addresses.
const pageSize = 4096

// Build writes the unified kernel image opts describe to opts.Out.
func Build(opts Options) error {
	stub := opts.Stub
	if stub == "" {
		stub = DefaultStub
	}
	if opts.Out == "" {
		return errors.New("uki: Options.Out is empty: name the image to write")
	}
	if _, err := os.Stat(stub); err != nil {
		return fmt.Errorf("uki: stub %s: %w: install Debian's systemd-boot-efi (apt-get install systemd-boot-efi)", stub, err)
	}
	objcopy, err := exec.LookPath("objcopy")
	if err != nil {
		return errors.New("uki: objcopy not found: install binutils (apt-get install binutils)")
	}
	for field, p := range map[string]string{"Kernel": opts.Kernel, "Initrd": opts.Initrd} {
		if fi, err := os.Stat(p); err != nil || !fi.Mode().IsRegular() {
			return fmt.Errorf("uki: Options.%s %q must be a file: %v", field, p, err)
		}
	}

	tmp, err := os.MkdirTemp(filepath.Dir(opts.Out), ".uki-")
	if err != nil {
		return fmt.Errorf("uki: %w", err)
	}
	defer os.RemoveAll(tmp)
	texts := map[string]string{"osrel": opts.OSRelease, "cmdline": opts.Cmdline}
	for name, text := range texts {
		if err := os.WriteFile(filepath.Join(tmp, name), []byte(text), 0o644); err != nil {
			return fmt.Errorf("uki: %w", err)
		}
	}
	var sections []Section
	// An empty text is no section, as with ukify; the stub then uses none.
	for _, name := range []string{"osrel", "cmdline"} {
		if texts[name] != "" {
			sections = append(sections, Section{Name: "." + name, Flags: "data,readonly", File: filepath.Join(tmp, name)})
		}
	}
	sections = append(sections,
		Section{Name: ".initrd", Flags: "data,readonly", File: opts.Initrd},
		// Last, as ukify does: the kernel decompresses into what follows.
		Section{Name: ".linux", Flags: "code,readonly", File: opts.Kernel})
	if err := Place(stub, sections); err != nil {
		return err
	}

	out := filepath.Join(tmp, "out.efi")
	// -p: binutils stamps PE images with the current time unless told to
	// keep the input's dates; it then copies the stub's header timestamp
	// (0 in Debian's stub, which is itself built reproducibly).
	args := []string{"-p", stub}
	for _, s := range sections {
		args = append(args, "--add-section", s.Name+"="+s.File, "--set-section-flags", s.Name+"="+s.Flags)
	}
	for _, s := range sections {
		args = append(args, "--change-section-vma", fmt.Sprintf("%s=%#x", s.Name, s.VMA))
	}
	args = append(args, out)
	if opts.Logf != nil {
		opts.Logf("uki: objcopy %s", strings.Join(args, " "))
	}
	cmd := exec.Command(objcopy, args...)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("uki: objcopy: %v\n%s", err, b)
	}
	if err := Check(out, sections); err != nil {
		return err
	}
	if err := os.Chmod(out, 0o644); err != nil {
		return err
	}
	if err := os.Rename(out, opts.Out); err != nil {
		return fmt.Errorf("uki: %w", err)
	}
	return nil
}

// Place sets each section's VMA as ukify does: the first at the end of the
// stub's last section rounded up to 4 KiB, each next one after the previous
// one's size rounded up to 4 KiB.
func Place(stub string, sections []Section) error {
	f, err := pe.Open(stub)
	if err != nil {
		return fmt.Errorf("uki: stub %s is not a PE image: %w", stub, err)
	}
	defer f.Close()
	oh, ok := f.OptionalHeader.(*pe.OptionalHeader64)
	if !ok {
		return fmt.Errorf("uki: stub %s is not PE32+ (x86-64): use linuxx64.efi.stub", stub)
	}
	var end uint64
	for _, s := range f.Sections {
		end = max(end, uint64(s.VirtualAddress)+uint64(s.VirtualSize))
	}
	next := roundUp(oh.ImageBase + end)
	for i := range sections {
		fi, err := os.Stat(sections[i].File)
		if err != nil {
			return fmt.Errorf("uki: section %s: %w", sections[i].Name, err)
		}
		sections[i].VMA = next
		next += roundUp(uint64(fi.Size()))
	}
	return nil
}

func roundUp(n uint64) uint64 { return (n + pageSize - 1) / pageSize * pageSize }

// Check reads image back: each section must be there at its VMA with the
// file's size, and no two sections may overlap in memory.
func Check(image string, sections []Section) error {
	f, err := pe.Open(image)
	if err != nil {
		return fmt.Errorf("uki: %s: %w", image, err)
	}
	defer f.Close()
	base := f.OptionalHeader.(*pe.OptionalHeader64).ImageBase
	for _, want := range sections {
		s := f.Section(want.Name)
		if s == nil {
			return fmt.Errorf("uki: %s lacks section %s", image, want.Name)
		}
		fi, err := os.Stat(want.File)
		if err != nil {
			return err
		}
		if base+uint64(s.VirtualAddress) != want.VMA || int64(s.VirtualSize) != fi.Size() {
			return fmt.Errorf("uki: %s: section %s at %#x size %d, want %#x size %d",
				image, want.Name, base+uint64(s.VirtualAddress), s.VirtualSize, want.VMA, fi.Size())
		}
	}
	for i, a := range f.Sections {
		for _, b := range f.Sections[i+1:] {
			if a.VirtualAddress < b.VirtualAddress+b.VirtualSize && b.VirtualAddress < a.VirtualAddress+a.VirtualSize {
				return fmt.Errorf("uki: %s: sections %s and %s overlap", image, a.Name, b.Name)
			}
		}
	}
	return nil
}
