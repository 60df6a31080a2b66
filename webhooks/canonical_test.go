package webhooks_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/standinghq/standing/webhooks"
)

func TestCanonical(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want string
	}{
		// Structure and key order.
		{"compact object", `{"a":1}`, `{"a":1}`},
		{"white space removed", " {\n\t\"b\" : [ 1 , 2 ] ,\r\n \"a\" : { } } ", `{"a":{},"b":[1,2]}`},
		{"keys sorted recursively", `{"b":{"d":1,"c":[{"f":1,"e":2}]},"a":0}`, `{"a":0,"b":{"c":[{"e":2,"f":1}],"d":1}}`},
		{"arrays keep order", `[3,1,2,"b","a"]`, `[3,1,2,"b","a"]`},
		{"key order by code point", `{"é":1,"z":2,"Z":3,"😀":4,"中":5,"":6,"ä":7}`, `{"":6,"Z":3,"z":2,"ä":7,"é":1,"中":5,"😀":4}`},
		{"key order astral after BMP", `{"😀":1,"\uffff":2}`, "{\"\uffff\":2,\"😀\":1}"},
		{"escaped keys sorted", `{"\u00e9":1,"e":2}`, `{"e":2,"é":1}`},
		{"duplicate keys: last wins", `{"a":1,"b":2,"a":3}`, `{"a":3,"b":2}`},
		{"empty containers", `[{},[],[[]],{"a":{}}]`, `[{},[],[[]],{"a":{}}]`},
		{"literals", `[true,false,null]`, `[true,false,null]`},
		{"top-level scalar", ` "x" `, `"x"`},

		// Strings.
		{"quote and backslash", `"a\"b\\c"`, `"a\"b\\c"`},
		{"short escapes", `"\n\r\t\b\f"`, `"\n\r\t\b\f"`},
		{"escaped slash unescaped", `"a\/b"`, `"a/b"`},
		{"control characters lowercase hex", `"\u0000\u0001\u000B\u001f\u001F"`, `"\u0000\u0001\u000b\u001f\u001f"`},
		{"DEL raw", `"\u007f"`, "\"\x7f\""},
		{"html characters raw", `"<>&'"`, `"<>&'"`},
		{"U+2028 and U+2029 raw", `"\u2028\u2029"`, "\"\u2028\u2029\""},
		{"non-ASCII raw", `"Jos\u00e9 Ñúñez"`, `"José Ñúñez"`},
		{"surrogate pair escape", `"\ud83d\ude00"`, `"😀"`},
		{"uppercase hex escape", `"\u00C9"`, `"É"`},

		// Integers.
		{"small integers", `[0,-1,42]`, `[0,-1,42]`},
		{"negative zero integer", `-0`, `0`},
		{"big integers exact", `[12345678901234567890123456789,-98765432109876543210]`, `[12345678901234567890123456789,-98765432109876543210]`},
		{"beyond float64 precision", `9007199254740993`, `9007199254740993`},

		// Whole floats.
		{"one point zero", `1.0`, `1`},
		{"exponent whole", `1e3`, `1000`},
		{"uppercase exponent", `1E2`, `100`},
		{"positive exponent sign", `1e+2`, `100`},
		{"fraction and exponent whole", `0.1e1`, `1`},
		{"negative zero float", `-0.0`, `0`},
		{"zero with exponent", `0e10`, `0`},
		{"negative whole", `-1.0`, `-1`},
		{"1e20", `1e20`, `100000000000000000000`},
		{"1e16", `1e16`, `10000000000000000`},
		{"whole float rounded to float64", `12345678901234567890.0`, `12345678901234567168`},
		{"huge whole float exact", `1e23`, `99999999999999991611392`},
		{"underflow to zero", `1e-400`, `0`},
		{"negative underflow to zero", `-1e-400`, `0`},

		// Fractional floats.
		{"simple fraction", `87.5`, `87.5`},
		{"shortest round trip", `0.30000000000000004`, `0.30000000000000004`},
		{"shortest digits", `0.10000000000000000555`, `0.1`},
		{"pi", `3.141592653589793`, `3.141592653589793`},
		{"negative fraction", `-2.5`, `-2.5`},
		{"fraction with exponent", `2.5E-1`, `0.25`},
		{"exponent -4 plain", `0.0001`, `0.0001`},
		{"exponent -4 plain with digits", `0.00012`, `0.00012`},
		{"exponent -5 exponent form", `0.00001`, `1e-05`},
		{"small exponent form", `1e-07`, `1e-07`},
		{"small with digits", `2.5e-05`, `2.5e-05`},
		{"three exponent digits", `1.5e-100`, `1.5e-100`},
		{"smallest denormal", `5e-324`, `5e-324`},
		{"large fraction plain", `4503599627370495.5`, `4503599627370495.5`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := webhooks.Canonical([]byte(tt.in))
			require.NoError(t, err)
			require.Equal(t, tt.want, string(got))
		})
	}
}

func TestCanonicalErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
	}{
		{"empty", ``},
		{"only white space", "  \n"},
		{"trailing data", `{"a":1} x`},
		{"two documents", `{} {}`},
		{"trailing comma in object", `{"a":1,}`},
		{"trailing comma in array", `[1,]`},
		{"missing colon", `{"a" 1}`},
		{"non-string key", `{1:2}`},
		{"unterminated object", `{"a":1`},
		{"unterminated array", `[1,2`},
		{"unterminated string", `"abc`},
		{"single quotes", `'a'`},
		{"raw control character", "\"a\tb\""},
		{"invalid escape", `"\x41"`},
		{"short unicode escape", `"\u12"`},
		{"bad hex in escape", `"\u12g4"`},
		{"lone high surrogate", `"\ud83d"`},
		{"high surrogate then letter", `"\ud83dx"`},
		{"lone low surrogate", `"\ude00"`},
		{"two high surrogates", `"\ud83d\ud83d"`},
		{"invalid UTF-8", "\"\xff\""},
		{"byte order mark", "\xef\xbb\xbf{}"},
		{"leading zero", `01`},
		{"leading plus", `+1`},
		{"bare minus", `-`},
		{"bare dot", `.5`},
		{"trailing dot", `1.`},
		{"empty exponent", `1e`},
		{"hex number", `0x10`},
		{"NaN", `NaN`},
		{"Infinity", `-Infinity`},
		{"float overflow", `1e400`},
		{"bad literal", `tru`},
		{"capitalised literal", `True`},
		{"too deep", strings.Repeat("[", 10002) + strings.Repeat("]", 10002)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := webhooks.Canonical([]byte(tt.in))
			require.ErrorIs(t, err, webhooks.ErrInvalidJSON)
		})
	}
}

// FuzzCanonical checks that the canonical form is valid JSON and a fixed point.
func FuzzCanonical(f *testing.F) {
	for _, seed := range []string{`{"b":[1.0,2.5e-7,"\u2028"],"a":null}`, `-0.0`, `"\ud83d\ude00"`, `[1e20,{"é":{}}]`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		out, err := webhooks.Canonical(body)
		if err != nil {
			return
		}
		require.True(t, json.Valid(out), "%s", out)
		again, err := webhooks.Canonical(out)
		require.NoError(t, err)
		require.Equal(t, string(out), string(again))
	})
}
