package ingest

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"
)

// Limits of the vendor's optional members of a new session.
const (
	maxCallbackLen = 2048
	maxLanguageLen = 16
)

// callbackMethods are the vendor's values of callback_method.
var callbackMethods = map[string]bool{"initiator": true, "completer": true, "both": true}

// sessionOptions decodes the vendor's documented optional members of POST /v3/session/
// (callback, callback_method, language, contact_details, expected_details) into the
// options stored with the session and returned, and its metadata (an object, or a string
// holding one, as the vendor accepts). portrait_image is accepted and not kept: Standing
// runs no face match, and a biometric image has no place in a session's options.
func sessionOptions(f *fields) (options, metadata map[string]any) {
	options = map[string]any{}
	if v := f.String("callback"); v != nil {
		cb := strings.TrimSpace(*v)
		u, err := url.Parse(cb)
		switch {
		case len(cb) > maxCallbackLen:
			f.fail("callback", "must be at most 2048 characters")
		case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
			f.fail("callback", "must be an http(s) URL")
		default:
			options["callback"] = cb
		}
	}
	if v := f.String("callback_method"); v != nil {
		if !callbackMethods[*v] {
			f.fail("callback_method", `must be "initiator", "completer" or "both"`)
		} else {
			options["callback_method"] = *v
		}
	}
	if v := f.String("language"); v != nil {
		lang := strings.TrimSpace(*v)
		if lang == "" || len(lang) > maxLanguageLen {
			f.fail("language", "must be a language code like es or pt-BR")
		} else {
			options["language"] = lang
		}
	}
	for _, name := range []string{"contact_details", "expected_details"} {
		if obj := f.Object(name); obj != nil {
			options[name] = obj
		}
	}
	if v := f.String("portrait_image"); v != nil && len(*v) > MaxBodyBytes {
		f.fail("portrait_image", "is too large")
	}
	return options, metadataMember(f)
}

// metadataMember decodes metadata given as an object or as a string holding a JSON
// object.
func metadataMember(f *fields) map[string]any {
	raw, ok := f.raw["metadata"]
	if !ok || len(raw) == 0 || raw[0] != '"' {
		return f.Object("metadata")
	}
	s := f.String("metadata")
	if s == nil {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(*s)))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil || obj == nil {
		f.fail("metadata", "must be a JSON object, or a string holding one")
		return nil
	}
	if msg := storableJSON(obj); msg != "" {
		f.fail("metadata", msg)
		return nil
	}
	return obj
}
