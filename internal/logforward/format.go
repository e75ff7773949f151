package logforward

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// Stream is where a line came from.
type Stream uint8

const (
	Stdout Stream = iota // a unit's standard output: severity info
	Stderr               // a unit's standard error: severity err
	Log                  // a daemon's own log (fleetd's): severity info
)

func (s Stream) String() string {
	switch s {
	case Stdout:
		return "stdout"
	case Stderr:
		return "stderr"
	}
	return "log"
}

// Syslog constants (RFC 5424 6.2.1): facility daemon, as systemd's
// SyslogFacility= default; severity info, or err for standard error.
const (
	facilityDaemon = 3
	severityErr    = 3
	severityInfo   = 6
	// sdID is the structured data element's name: a private one takes
	// "name@<enterprise number>" (RFC 5424 6.3.2). Flotilla has no IANA
	// number of its own; 32473 is the one reserved for documentation
	// (RFC 5612).
	sdID = "flotilla@32473"
	// MaxMessage bounds one record's message (bytes); longer lines are cut.
	// rsyslog's default maximum message size is 8 KiB.
	MaxMessage = 8000
	appNameMax = 48  // RFC 5424 APP-NAME
	hostMax    = 255 // RFC 5424 HOSTNAME
)

// record is one line waiting in a queue; msg points into the queue's data.
type record struct {
	t      int64 // Unix nanoseconds
	unit   string
	stream Stream
	off, n int
}

func (r record) pri() int {
	if r.stream == Stderr {
		return facilityDaemon*8 + severityErr
	}
	return facilityDaemon*8 + severityInfo
}

// appendSyslog appends one RFC 5424 record (no framing):
//
//	<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [flotilla@32473 unit="U" machine="M"] MSG
//
// APP-NAME is the unit (printable US-ASCII, cut at 48), HOSTNAME the
// machine name, MSGID the stream; PROCID is nil ("-"). MSG is the line as
// the unit wrote it, without a BOM (the RFC's MSG-ANY).
func appendSyslog(b []byte, r record, machine string, msg []byte) []byte {
	b = append(b, '<')
	b = strconv.AppendInt(b, int64(r.pri()), 10)
	b = append(b, ">1 "...)
	b = time.Unix(0, r.t).UTC().AppendFormat(b, "2006-01-02T15:04:05.000000Z")
	b = append(b, ' ')
	b = appendPrintable(b, machine, hostMax)
	b = append(b, ' ')
	b = appendPrintable(b, r.unit, appNameMax)
	b = append(b, " - "...)
	b = append(b, r.stream.String()...)
	b = append(b, " ["+sdID+" unit=\""...)
	b = appendParamValue(b, r.unit)
	b = append(b, "\" machine=\""...)
	b = appendParamValue(b, machine)
	b = append(b, "\"] "...)
	return append(b, msg...)
}

// appendPrintable appends s as a header field: printable US-ASCII only
// (33-126; anything else becomes '_'), at most max bytes, "-" when empty.
func appendPrintable(b []byte, s string, max int) []byte {
	if s == "" {
		return append(b, '-')
	}
	for i := 0; i < len(s) && i < max; i++ {
		c := s[i]
		if c < 33 || c > 126 {
			c = '_'
		}
		b = append(b, c)
	}
	return b
}

// appendParamValue escapes '"', '\' and ']' (RFC 5424 6.3.3); the value
// is UTF-8, so invalid bytes become U+FFFD.
func appendParamValue(b []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c == '"' || c == '\\' || c == ']' {
				b = append(b, '\\')
			}
			b = append(b, c)
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		b = utf8.AppendRune(b, r)
		i += n
	}
	return b
}

// appendOctetCounted appends one RFC 6587 octet-counted frame: the
// record's length, a space, the record.
func appendOctetCounted(b []byte, r record, machine string, msg []byte) []byte {
	start := len(b)
	b = appendSyslog(b, r, machine, msg)
	rec := len(b) - start
	var pre [12]byte
	p := strconv.AppendInt(pre[:0], int64(rec), 10)
	p = append(p, ' ')
	b = append(b, p...)
	copy(b[start+len(p):], b[start:start+rec])
	copy(b[start:], p)
	return b
}

// appendJSON appends one JSON line:
//
//	{"time":"RFC 3339, ns","machine":"M","unit":"U","stream":"stdout","message":"..."}
func appendJSON(b []byte, r record, machine string, msg []byte) []byte {
	b = append(b, `{"time":"`...)
	b = time.Unix(0, r.t).UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","machine":`...)
	b = appendJSONString(b, machine)
	b = append(b, `,"unit":`...)
	b = appendJSONString(b, r.unit)
	b = append(b, `,"stream":"`...)
	b = append(b, r.stream.String()...)
	b = append(b, `","message":`...)
	b = appendJSONString(b, msg)
	return append(b, "}\n"...)
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s quoted as a JSON string; invalid UTF-8
// becomes U+FFFD, as encoding/json does.
func appendJSONString[S string | []byte](b []byte, s S) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20 || c == 0x7f:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		var q [utf8.UTFMax]byte
		k := copy(q[:], s[i:min(i+utf8.UTFMax, len(s))])
		r, n := utf8.DecodeRune(q[:k])
		b = utf8.AppendRune(b, r)
		i += n
	}
	return append(b, '"')
}
