// Package regfile reads Windows registry export files (.reg) as regedit
// writes them: UTF-16LE with a byte order mark (regedit 5) or 8-bit text
// (REGEDIT4), CRLF line ends, the "Windows Registry Editor Version 5.00" or
// "REGEDIT4" header, [key] lines, and values that are quoted strings (with
// \\ and \" escapes), dword:, hex: and hex(n): data (hex continued over
// lines ending in a backslash) or - (delete).
//
// It only reads: it does not touch any registry, and it does not know what
// the keys mean (the cis-agent's configuration import does). A file that
// does not start with a registry export header is refused with
// ErrNotRegistry before anything else is read; anything else malformed is a
// *SyntaxError with its line. Input is capped at MaxSize and parsed in
// linear time.
package regfile

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxSize caps the file Parse reads.
const MaxSize = 1 << 20

// Caps on what one file may hold.
const (
	maxValueData = 64 << 10 // bytes of one hex value
	maxLineLen   = 64 << 10 // characters of one line
)

// ErrNotRegistry means the input is not a registry export: it does not
// start with "Windows Registry Editor Version 5.00" or "REGEDIT4".
var ErrNotRegistry = errors.New("not a Windows registry export (want a file that starts with \"Windows Registry Editor Version 5.00\" or \"REGEDIT4\")")

// ErrSyntax is wrapped by every *SyntaxError.
var ErrSyntax = errors.New("regfile: syntax error")

// SyntaxError locates a malformed line.
type SyntaxError struct {
	Line int    // 1-based line number
	Msg  string // what is wrong
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("registry file line %d: %s", e.Line, e.Msg) }

// Unwrap returns ErrSyntax.
func (e *SyntaxError) Unwrap() error { return ErrSyntax }

// Kind is the type of a value's data.
type Kind int

// The kinds of value a .reg file holds.
const (
	// String is REG_SZ, written "text".
	String Kind = iota + 1
	// DWord is REG_DWORD, written dword:0000000a.
	DWord
	// Hex is binary data, written hex:01,02 (REG_BINARY) or hex(n):…
	// for type n (2 REG_EXPAND_SZ, 7 REG_MULTI_SZ, b REG_QWORD, …).
	Hex
	// Delete removes the value, written -.
	Delete
)

// File is a parsed registry export.
type File struct {
	// Version is 5 for "Windows Registry Editor Version 5.00", 4 for
	// REGEDIT4.
	Version int
	// Keys are the [key] sections, in file order (a key named twice
	// appears twice).
	Keys []Key
}

// Key is one [key] section.
type Key struct {
	// Path is the key's full name, e.g.
	// HKEY_LOCAL_MACHINE\SOFTWARE\HSCIC\Identity Agent.
	Path string
	// Delete is set for a [-key] line, which removes the key.
	Delete bool
	// Values are the section's values, in file order.
	Values []Value
	// Line is the line of the [key].
	Line int
}

// Value is one value of a key.
type Value struct {
	// Name is the value's name; "" is the key's default value (@).
	Name string
	// Kind is the data's type.
	Kind Kind
	// Str is the data of a String value.
	Str string
	// DWord is the data of a DWord value.
	DWord uint32
	// HexType is n of hex(n): (0 for plain hex:).
	HexType int
	// Data is the bytes of a Hex value.
	Data []byte
	// Line is the line the value starts on.
	Line int
}

// Value returns the last value called name (registry names ignore case;
// regedit applies a repeated value's last occurrence).
func (k *Key) Value(name string) (Value, bool) {
	for i := len(k.Values) - 1; i >= 0; i-- {
		if strings.EqualFold(k.Values[i].Name, name) {
			return k.Values[i], true
		}
	}
	return Value{}, false
}

// Parse reads a registry export.
func Parse(data []byte) (*File, error) {
	if len(data) > MaxSize {
		return nil, fmt.Errorf("registry file larger than %d bytes", MaxSize)
	}
	text, err := decode(data)
	if err != nil {
		return nil, err
	}
	lines := splitLines(text)
	f := &File{}
	i := 0
	for i < len(lines) && strings.TrimSpace(lines[i]) == "" {
		i++
	}
	if i == len(lines) {
		return nil, ErrNotRegistry
	}
	switch strings.TrimSpace(lines[i]) {
	case "Windows Registry Editor Version 5.00":
		f.Version = 5
	case "REGEDIT4":
		f.Version = 4
	default:
		return nil, ErrNotRegistry
	}
	var cur *Key
	for i++; i < len(lines); i++ {
		lineNo := i + 1
		line := strings.TrimSpace(lines[i])
		if len(line) > maxLineLen {
			return nil, &SyntaxError{lineNo, fmt.Sprintf("line longer than %d characters", maxLineLen)}
		}
		switch {
		case line == "" || line[0] == ';':
			continue
		case line[0] == '[':
			k, err := parseKey(line, lineNo)
			if err != nil {
				return nil, err
			}
			f.Keys = append(f.Keys, k)
			cur = &f.Keys[len(f.Keys)-1]
			continue
		}
		if cur == nil {
			return nil, &SyntaxError{lineNo, "value before any [key]"}
		}
		if cur.Delete {
			return nil, &SyntaxError{lineNo, "value under a deleted [-key]"}
		}
		// Hex data goes on over lines that end in a backslash.
		if strings.HasSuffix(line, "\\") && isHexLine(line) {
			var b strings.Builder
			for strings.HasSuffix(line, "\\") && i+1 < len(lines) {
				b.WriteString(line[:len(line)-1])
				if b.Len() > 4*maxValueData {
					return nil, &SyntaxError{lineNo, fmt.Sprintf("value longer than %d bytes", maxValueData)}
				}
				i++
				line = strings.TrimSpace(lines[i])
			}
			b.WriteString(line)
			line = b.String()
		}
		v, err := parseValue(line, lineNo)
		if err != nil {
			return nil, err
		}
		cur.Values = append(cur.Values, v)
	}
	return f, nil
}

// decode turns the file's bytes into text: UTF-16 (with a byte order mark,
// or little-endian without one, as some tools save it), UTF-8 (with or
// without a BOM), else 8-bit text read as Latin-1 (REGEDIT4 files are in
// the Windows code page; the settings this reads are ASCII).
func decode(b []byte) (string, error) {
	switch {
	case bytes.HasPrefix(b, []byte{0xFF, 0xFE}):
		return decodeUTF16(b[2:], false)
	case bytes.HasPrefix(b, []byte{0xFE, 0xFF}):
		return decodeUTF16(b[2:], true)
	case bytes.HasPrefix(b, []byte{0xEF, 0xBB, 0xBF}):
		b = b[3:]
	case len(b) >= 4 && b[0] != 0 && b[1] == 0 && b[2] != 0 && b[3] == 0:
		return decodeUTF16(b, false)
	}
	if bytes.IndexByte(b, 0) >= 0 {
		return "", ErrNotRegistry
	}
	if utf8.Valid(b) {
		return string(b), nil
	}
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r), nil
}

func decodeUTF16(b []byte, bigEndian bool) (string, error) {
	if len(b)%2 != 0 {
		return "", &SyntaxError{1, "UTF-16 text with an odd number of bytes"}
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		if bigEndian {
			u[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
		} else {
			u[i] = uint16(b[2*i]) | uint16(b[2*i+1])<<8
		}
	}
	return string(utf16.Decode(u)), nil
}

// splitLines splits on CRLF, LF or CR.
func splitLines(s string) []string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	return strings.Split(s, "\n")
}

func parseKey(line string, lineNo int) (Key, error) {
	if !strings.HasSuffix(line, "]") || len(line) < 3 {
		return Key{}, &SyntaxError{lineNo, "key line without a closing ]"}
	}
	k := Key{Path: line[1 : len(line)-1], Line: lineNo}
	if strings.HasPrefix(k.Path, "-") {
		k.Delete, k.Path = true, k.Path[1:]
	}
	if k.Path == "" || strings.ContainsAny(k.Path, "[]") {
		return Key{}, &SyntaxError{lineNo, "malformed key name"}
	}
	root, _, _ := strings.Cut(k.Path, "\\")
	switch strings.ToUpper(root) {
	case "HKEY_LOCAL_MACHINE", "HKEY_CURRENT_USER", "HKEY_CLASSES_ROOT", "HKEY_USERS", "HKEY_CURRENT_CONFIG",
		"HKLM", "HKCU", "HKCR", "HKU", "HKCC":
	default:
		return Key{}, &SyntaxError{lineNo, fmt.Sprintf("key %q is not under a registry root (HKEY_LOCAL_MACHINE, …)", shorten(root))}
	}
	return k, nil
}

// isHexLine reports whether a value line holds hex data (which may go on
// over several lines).
func isHexLine(line string) bool {
	_, data, ok := cutName(line)
	return ok && strings.HasPrefix(strings.TrimSpace(data), "hex")
}

// cutName splits a value line into its name token and what follows "=".
func cutName(line string) (name, data string, ok bool) {
	if strings.HasPrefix(line, "@") {
		rest := strings.TrimSpace(line[1:])
		if !strings.HasPrefix(rest, "=") {
			return "", "", false
		}
		return "@", rest[1:], true
	}
	if !strings.HasPrefix(line, `"`) {
		return "", "", false
	}
	end := closingQuote(line)
	if end < 0 {
		return "", "", false
	}
	rest := strings.TrimSpace(line[end+1:])
	if !strings.HasPrefix(rest, "=") {
		return "", "", false
	}
	return line[:end+1], rest[1:], true
}

// closingQuote returns the index of the quote that closes the string
// starting at s[0], skipping escaped characters, or -1.
func closingQuote(s string) int {
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return -1
}

// unquote reads a quoted .reg string: \\ and \" are its only escapes.
func unquote(q string, lineNo int) (string, error) {
	if len(q) < 2 || q[0] != '"' || q[len(q)-1] != '"' {
		return "", &SyntaxError{lineNo, "string without closing quote"}
	}
	var b strings.Builder
	for i := 1; i < len(q)-1; i++ {
		c := q[i]
		if c == '"' {
			return "", &SyntaxError{lineNo, "unescaped quote inside a string"}
		}
		if c == '\\' {
			i++
			if i >= len(q)-1 || (q[i] != '\\' && q[i] != '"') {
				return "", &SyntaxError{lineNo, `backslash not followed by \ or " in a string`}
			}
			c = q[i]
		}
		b.WriteByte(c)
	}
	return b.String(), nil
}

func parseValue(line string, lineNo int) (Value, error) {
	nameTok, data, ok := cutName(line)
	if !ok {
		return Value{}, &SyntaxError{lineNo, `want "name"=data or @=data`}
	}
	v := Value{Line: lineNo}
	if nameTok != "@" {
		name, err := unquote(nameTok, lineNo)
		if err != nil {
			return Value{}, err
		}
		v.Name = name
	}
	data = strings.TrimSpace(data)
	switch {
	case data == "-":
		v.Kind = Delete
	case strings.HasPrefix(data, `"`):
		s, err := unquote(data, lineNo)
		if err != nil {
			return Value{}, err
		}
		v.Kind, v.Str = String, s
	case hasPrefixFold(data, "dword:"):
		h := data[len("dword:"):]
		n, err := strconv.ParseUint(h, 16, 32)
		if err != nil || len(h) == 0 || len(h) > 8 || strings.ContainsAny(h, "+-xX_") {
			return Value{}, &SyntaxError{lineNo, "dword: wants 1 to 8 hex digits"}
		}
		v.Kind, v.DWord = DWord, uint32(n)
	case hasPrefixFold(data, "hex"):
		t, bytesText, err := hexType(data[len("hex"):], lineNo)
		if err != nil {
			return Value{}, err
		}
		b, err := hexBytes(bytesText, lineNo)
		if err != nil {
			return Value{}, err
		}
		v.Kind, v.HexType, v.Data = Hex, t, b
	default:
		return Value{}, &SyntaxError{lineNo, `data is not "string", dword:, hex: or -`}
	}
	return v, nil
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// hexType reads ":" or "(n):" after "hex" and returns n and the rest.
func hexType(s string, lineNo int) (int, string, error) {
	if strings.HasPrefix(s, ":") {
		return 0, s[1:], nil
	}
	if !strings.HasPrefix(s, "(") {
		return 0, "", &SyntaxError{lineNo, "hex data wants hex: or hex(n):"}
	}
	end := strings.Index(s, "):")
	if end < 0 || end > 9 {
		return 0, "", &SyntaxError{lineNo, "hex(n): without its closing parenthesis"}
	}
	n, err := strconv.ParseUint(s[1:end], 16, 32)
	if err != nil {
		return 0, "", &SyntaxError{lineNo, "hex(n): wants a hex type number"}
	}
	return int(n), s[end+2:], nil
}

// hexBytes reads comma-separated two-digit hex bytes.
func hexBytes(s string, lineNo int) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return []byte{}, nil
	}
	parts := strings.Split(s, ",")
	if len(parts) > maxValueData {
		return nil, &SyntaxError{lineNo, fmt.Sprintf("value longer than %d bytes", maxValueData)}
	}
	out := make([]byte, 0, len(parts))
	for _, p := range parts {
		p = strings.TrimSpace(p)
		n, err := strconv.ParseUint(p, 16, 8)
		if err != nil || len(p) == 0 || len(p) > 2 || strings.ContainsAny(p, "+-xX_") {
			return nil, &SyntaxError{lineNo, "hex data wants comma-separated bytes such as 0a,ff"}
		}
		out = append(out, byte(n))
	}
	return out, nil
}

// shorten cuts s for an error message.
func shorten(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// UTF16String decodes the data of a hex(2) or hex(7) value (UTF-16LE,
// NUL-terminated; a REG_MULTI_SZ's strings are separated by NUL).
func UTF16String(data []byte) string {
	if len(data)%2 != 0 {
		data = data[:len(data)-1]
	}
	u := make([]uint16, len(data)/2)
	for i := range u {
		u[i] = uint16(data[2*i]) | uint16(data[2*i+1])<<8
	}
	return strings.TrimRight(string(utf16.Decode(u)), "\x00")
}
