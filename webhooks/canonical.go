// Package webhooks holds the pure functions behind webhook signing and verification:
// the canonical JSON form, the provider-compatible signatures (X-Signature,
// X-Signature-V2, X-Signature-Simple), the Standard Webhooks signature and the
// verification of inbound signed requests. Nothing here does I/O or reads the clock.
package webhooks

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// ErrInvalidJSON is wrapped by the errors of Canonical when the body is not a single
// valid JSON document.
var ErrInvalidJSON = errors.New("webhooks: invalid JSON")

// maxDepth bounds the nesting of arrays and objects Canonical accepts.
const maxDepth = 10000

// Canonical returns the canonical JSON form of body, byte for byte what Python 3 prints
// with json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"),
// ensure_ascii=False), except that floats with a whole-number value are written as
// integers (1.0 -> 1, 1e3 -> 1000, -0.0 -> 0).
//
// Object keys are sorted by Unicode code point at every level and duplicate keys keep
// their last value. Strings are written as raw UTF-8, escaping only '"', '\\' and the
// characters below U+0020. Integer literals are kept exact however long; other numbers
// are written as Python's repr(float). Invalid UTF-8, escaped lone surrogates, NaN,
// Infinity, numbers out of float64 range and trailing data are errors wrapping
// ErrInvalidJSON (Python would either reject them or print something that is not
// valid UTF-8 JSON).
func Canonical(body []byte) ([]byte, error) {
	if !utf8.Valid(body) {
		return nil, fmt.Errorf("%w: not valid UTF-8", ErrInvalidJSON)
	}
	p := parser{data: body}
	p.skipSpace()
	v, err := p.value(0)
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos != len(p.data) {
		return nil, p.errorf("trailing data")
	}
	var out bytes.Buffer
	encode(&out, v)
	return out.Bytes(), nil
}

// number is a JSON number already in its canonical text form.
type number string

// parser is a strict JSON (RFC 8259) parser producing map[string]any, []any, string,
// number, bool and nil values.
type parser struct {
	data []byte
	pos  int
}

func (p *parser) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: %s at offset %d", ErrInvalidJSON, fmt.Sprintf(format, args...), p.pos)
}

func (p *parser) skipSpace() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *parser) value(depth int) (any, error) {
	if depth > maxDepth {
		return nil, p.errorf("nested too deeply")
	}
	if p.pos >= len(p.data) {
		return nil, p.errorf("unexpected end of input")
	}
	switch c := p.data[p.pos]; {
	case c == '{':
		return p.object(depth)
	case c == '[':
		return p.array(depth)
	case c == '"':
		return p.string()
	case c == '-' || ('0' <= c && c <= '9'):
		return p.number()
	}
	for _, lit := range []struct {
		text  string
		value any
	}{{"true", true}, {"false", false}, {"null", nil}} {
		if bytes.HasPrefix(p.data[p.pos:], []byte(lit.text)) {
			p.pos += len(lit.text)
			return lit.value, nil
		}
	}
	return nil, p.errorf("unexpected character %q", p.data[p.pos])
}

// consume skips white space and then the byte c if it comes next.
func (p *parser) consume(c byte) bool {
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == c {
		p.pos++
		return true
	}
	return false
}

func (p *parser) object(depth int) (any, error) {
	p.pos++ // '{'
	obj := map[string]any{}
	if p.consume('}') {
		return obj, nil
	}
	for {
		p.skipSpace()
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			return nil, p.errorf("expected object key")
		}
		key, err := p.string()
		if err != nil {
			return nil, err
		}
		if !p.consume(':') {
			return nil, p.errorf("expected ':'")
		}
		p.skipSpace()
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		obj[key] = v // the last duplicate wins, as in Python
		if p.consume('}') {
			return obj, nil
		}
		if !p.consume(',') {
			return nil, p.errorf("expected ',' or '}'")
		}
	}
}

func (p *parser) array(depth int) (any, error) {
	p.pos++ // '['
	arr := []any{}
	if p.consume(']') {
		return arr, nil
	}
	for {
		p.skipSpace()
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		arr = append(arr, v)
		if p.consume(']') {
			return arr, nil
		}
		if !p.consume(',') {
			return nil, p.errorf("expected ',' or ']'")
		}
	}
}

// string parses a string literal starting at its opening quote. The input is known to
// be valid UTF-8, so unescaped bytes are copied as they are.
func (p *parser) string() (string, error) {
	p.pos++ // '"'
	var b []byte
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		switch {
		case c == '"':
			p.pos++
			return string(b), nil
		case c < 0x20:
			return "", p.errorf("control character in string")
		case c != '\\':
			b = append(b, c)
			p.pos++
			continue
		}
		p.pos++ // '\\'
		if p.pos >= len(p.data) {
			break
		}
		esc := p.data[p.pos]
		p.pos++
		switch esc {
		case '"', '\\', '/':
			b = append(b, esc)
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r, err := p.escapedRune()
			if err != nil {
				return "", err
			}
			b = utf8.AppendRune(b, r)
		default:
			return "", p.errorf("invalid escape %q", esc)
		}
	}
	return "", p.errorf("unterminated string")
}

// escapedRune reads the four hex digits after `\u`, and the low half of a surrogate
// pair when they are its high half.
func (p *parser) escapedRune() (rune, error) {
	r, err := p.hex4()
	if err != nil {
		return 0, err
	}
	if !utf16.IsSurrogate(r) {
		return r, nil
	}
	if r < 0xDC00 && bytes.HasPrefix(p.data[p.pos:], []byte(`\u`)) {
		p.pos += 2
		low, err := p.hex4()
		if err != nil {
			return 0, err
		}
		if pair := utf16.DecodeRune(r, low); pair != utf8.RuneError {
			return pair, nil
		}
	}
	return 0, p.errorf("lone surrogate in \\u escape")
}

func (p *parser) hex4() (rune, error) {
	if p.pos+4 > len(p.data) {
		return 0, p.errorf("short \\u escape")
	}
	n, err := strconv.ParseUint(string(p.data[p.pos:p.pos+4]), 16, 16)
	if err != nil {
		return 0, p.errorf("invalid \\u escape")
	}
	p.pos += 4
	return rune(n), nil
}

// number parses a number literal and returns it in canonical form: integers exact
// (with -0 as 0), other numbers through float64 as formatFloat writes them.
func (p *parser) number() (any, error) {
	start := p.pos
	p.skip('-')
	switch {
	case p.skip('0'):
	case p.digits() == 0:
		return nil, p.errorf("invalid number")
	}
	isInt := true
	if p.skip('.') {
		isInt = false
		if p.digits() == 0 {
			return nil, p.errorf("invalid number")
		}
	}
	if p.skip('e') || p.skip('E') {
		isInt = false
		if !p.skip('+') {
			p.skip('-')
		}
		if p.digits() == 0 {
			return nil, p.errorf("invalid number")
		}
	}
	lit := string(p.data[start:p.pos])
	if isInt {
		if lit == "-0" {
			lit = "0"
		}
		return number(lit), nil
	}
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil {
		return nil, fmt.Errorf("%w: number %s out of range", ErrInvalidJSON, lit)
	}
	return number(formatFloat(f)), nil
}

// skip consumes the byte c if it comes next.
func (p *parser) skip(c byte) bool {
	if p.pos < len(p.data) && p.data[p.pos] == c {
		p.pos++
		return true
	}
	return false
}

// digits consumes a run of decimal digits and returns its length.
func (p *parser) digits() int {
	start := p.pos
	for p.pos < len(p.data) && '0' <= p.data[p.pos] && p.data[p.pos] <= '9' {
		p.pos++
	}
	return p.pos - start
}

// formatFloat writes a finite float64: whole values as exact integers, others as
// Python's repr does (shortest round-trip digits, exponent form when the decimal
// exponent is below -4 or at least 16, with a sign and at least two exponent digits).
func formatFloat(f float64) string {
	if f == math.Trunc(f) {
		if f == 0 {
			return "0" // also for -0.0
		}
		return strconv.FormatFloat(f, 'f', 0, 64) // exact for whole values
	}
	s := strconv.FormatFloat(f, 'e', -1, 64)
	exp, _ := strconv.Atoi(s[strings.IndexByte(s, 'e')+1:])
	if exp < -4 || exp >= 16 {
		return s
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

func encode(out *bytes.Buffer, v any) {
	switch v := v.(type) {
	case nil:
		out.WriteString("null")
	case bool:
		out.WriteString(strconv.FormatBool(v))
	case number:
		out.WriteString(string(v))
	case string:
		encodeString(out, v)
	case []any:
		out.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				out.WriteByte(',')
			}
			encode(out, e)
		}
		out.WriteByte(']')
	case map[string]any:
		// Byte order of UTF-8 strings is Unicode code point order, as Python sorts.
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		out.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				out.WriteByte(',')
			}
			encodeString(out, k)
			out.WriteByte(':')
			encode(out, v[k])
		}
		out.WriteByte('}')
	}
}

// encodeString writes s as Python's json does with ensure_ascii=False.
func encodeString(out *bytes.Buffer, s string) {
	const hexDigits = "0123456789abcdef"
	out.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			out.WriteString(`\"`)
		case '\\':
			out.WriteString(`\\`)
		case '\n':
			out.WriteString(`\n`)
		case '\r':
			out.WriteString(`\r`)
		case '\t':
			out.WriteString(`\t`)
		case '\b':
			out.WriteString(`\b`)
		case '\f':
			out.WriteString(`\f`)
		default:
			if c < 0x20 {
				out.WriteString(`\u00`)
				out.WriteByte(hexDigits[c>>4])
				out.WriteByte(hexDigits[c&0xF])
			} else {
				out.WriteByte(c)
			}
		}
	}
	out.WriteByte('"')
}
