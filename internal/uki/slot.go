package uki

import (
	"bytes"
	"crypto/sha256"
	"debug/pe"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/flotilla-os/flotilla/internal/node"
)

// SlotKey is the kernel command line key naming the slot whose squashfs is
// the root; the payload's UKI says "flotilla.slot=A".
const SlotKey = node.KeySlot + "="

// maxHeader bounds the PE headers ForSlot reads before the sections: the
// stub's section table ends well inside the first 4 KiB.
const maxHeader = 64 << 10

// ForSlot copies the unified kernel image r to w with the slot letter in
// its .cmdline section (the byte after "flotilla.slot=") set to slot, "A"
// or "B". It streams: only the PE headers and the .cmdline section are held
// in memory, with the bytes between them (a few KiB). The output has the
// input's length and differs in the slot byte only; the optional header's
// CheckSum is left as it was, which UEFI firmware and systemd-boot ignore
// (a Secure Boot signature would not: ForSlot refuses to change the letter
// of a signed image).
func ForSlot(r io.Reader, w io.Writer, slot string) error {
	if slot != "A" && slot != "B" {
		return fmt.Errorf("uki: slot %q: want A or B", slot)
	}
	head, cmdline, err := readHeaders(r)
	if err != nil {
		return err
	}
	// Nothing is written before the slot byte is found, so a bad image
	// leaves w empty.
	if int64(len(head)) > int64(cmdline.Offset) {
		return fmt.Errorf("uki: .cmdline at offset %#x lies inside the PE headers (%d bytes): not an image ForSlot understands", cmdline.Offset, len(head))
	}
	var mid bytes.Buffer
	if _, err := io.CopyN(&mid, r, int64(cmdline.Offset)-int64(len(head))); err != nil {
		return fmt.Errorf("uki: reading up to .cmdline: %w", truncated(err))
	}
	sec := make([]byte, cmdline.Size)
	if _, err := io.ReadFull(r, sec); err != nil {
		return fmt.Errorf("uki: reading .cmdline: %w", truncated(err))
	}
	i := bytes.Index(sec, []byte(SlotKey))
	if i < 0 || i+len(SlotKey) >= len(sec) {
		return fmt.Errorf("uki: .cmdline %q has no %sX: the image was not built for slots (image-build sets %sA)", bytes.TrimRight(sec, "\x00\n"), SlotKey, SlotKey)
	}
	pos := i + len(SlotKey)
	if c := sec[pos]; c != 'A' && c != 'B' {
		return fmt.Errorf("uki: .cmdline has %s%c: want A or B", SlotKey, c)
	}
	if sec[pos] != slot[0] && signed(head) {
		return fmt.Errorf("uki: the image is signed for Secure Boot: setting %s%s would void its signature, and per-slot signed images are not built yet; a Secure Boot node can only be written to slot %c", SlotKey, slot, sec[pos])
	}
	sec[pos] = slot[0]
	for _, b := range [][]byte{head, mid.Bytes(), sec} {
		if _, err := w.Write(b); err != nil {
			return fmt.Errorf("uki: %w", err)
		}
	}
	if _, err := io.Copy(w, r); err != nil {
		return fmt.Errorf("uki: %w", err)
	}
	return nil
}

// SlotHash is the hex sha256 of ForSlot's output for r and slot: what
// InstallUKI should find on the ESP.
func SlotHash(r io.Reader, slot string) (string, error) {
	h := sha256.New()
	if err := ForSlot(r, h, slot); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

type rawSection struct{ Offset, Size uint32 }

// readHeaders reads the DOS stub, the COFF and optional headers and the
// section table, and finds .cmdline in the table (debug/pe's header types;
// pe.NewFile itself wants random access to the COFF symbols objcopy puts
// at the end of the file).
func readHeaders(r io.Reader) (head []byte, cmdline rawSection, err error) {
	head = make([]byte, 0x40)
	if _, err := io.ReadFull(r, head); err != nil {
		return nil, cmdline, fmt.Errorf("uki: reading DOS header: %w", truncated(err))
	}
	if head[0] != 'M' || head[1] != 'Z' {
		return nil, cmdline, errors.New("uki: not a PE image (no MZ): want a UKI from image-build")
	}
	lfanew := int(binary.LittleEndian.Uint32(head[0x3c:]))
	fhEnd := lfanew + 4 + binary.Size(pe.FileHeader{})
	if lfanew < 0x40 || fhEnd > maxHeader {
		return nil, cmdline, fmt.Errorf("uki: PE header offset %#x out of range", lfanew)
	}
	if head, err = readTo(r, head, fhEnd); err != nil {
		return nil, cmdline, err
	}
	if string(head[lfanew:lfanew+4]) != "PE\x00\x00" {
		return nil, cmdline, errors.New("uki: no PE signature: want a UKI from image-build")
	}
	var fh pe.FileHeader
	if err := binary.Read(bytes.NewReader(head[lfanew+4:]), binary.LittleEndian, &fh); err != nil {
		return nil, cmdline, fmt.Errorf("uki: COFF header: %w", err)
	}
	secOff := fhEnd + int(fh.SizeOfOptionalHeader)
	end := secOff + int(fh.NumberOfSections)*binary.Size(pe.SectionHeader32{})
	if end > maxHeader {
		return nil, cmdline, fmt.Errorf("uki: PE headers end at %d, beyond %d bytes", end, maxHeader)
	}
	if head, err = readTo(r, head, end); err != nil {
		return nil, cmdline, err
	}
	found := false
	for i := 0; i < int(fh.NumberOfSections); i++ {
		var sh pe.SectionHeader32
		o := secOff + i*binary.Size(sh)
		if err := binary.Read(bytes.NewReader(head[o:]), binary.LittleEndian, &sh); err != nil {
			return nil, cmdline, fmt.Errorf("uki: section header %d: %w", i, err)
		}
		if string(bytes.TrimRight(sh.Name[:], "\x00")) != ".cmdline" {
			continue
		}
		if found {
			return nil, cmdline, errors.New("uki: two .cmdline sections")
		}
		found = true
		// The section's bytes in the file: VirtualSize is the text,
		// SizeOfRawData the file-aligned room for it.
		size := min(sh.VirtualSize, sh.SizeOfRawData)
		cmdline = rawSection{Offset: sh.PointerToRawData, Size: size}
	}
	if !found {
		return nil, cmdline, errors.New("uki: no .cmdline section: the image was not built by image-build")
	}
	return head, cmdline, nil
}

func readTo(r io.Reader, b []byte, n int) ([]byte, error) {
	if len(b) >= n {
		return b, nil
	}
	more := make([]byte, n-len(b))
	if _, err := io.ReadFull(r, more); err != nil {
		return nil, fmt.Errorf("uki: reading PE headers: %w", truncated(err))
	}
	return append(b, more...), nil
}

func truncated(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return fmt.Errorf("image truncated: %w", io.ErrUnexpectedEOF)
	}
	return err
}

// signed says whether the PE headers in head carry an Authenticode
// signature: a non-empty certificate table (data directory 4, whose
// address is a file offset), as sbsign writes it.
func signed(head []byte) bool {
	if len(head) < 0x40 {
		return false
	}
	le := binary.LittleEndian
	opt := int(le.Uint32(head[0x3c:])) + 24 // PE signature and COFF header
	if opt+2 > len(head) {
		return false
	}
	dirs := opt + 96 // PE32
	if le.Uint16(head[opt:]) == 0x20b {
		dirs = opt + 112 // PE32+
	}
	entry := dirs + 4*8
	if entry+8 > len(head) {
		return false
	}
	return le.Uint32(head[entry+4:]) != 0
}
