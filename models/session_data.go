package models

import "strings"

// scrubDecision returns a copy of decision without the face biometric ids (of a v2
// "liveness" object and of every entry of a v3 "liveness_checks" list), which are kept in
// their own column so that deleting the entity can erase them, and the first such id.
func scrubDecision(decision map[string]any) (map[string]any, string) {
	out := make(map[string]any, len(decision))
	faceID := ""
	for k, v := range decision {
		out[k] = v
	}
	scrub := func(entry map[string]any) map[string]any {
		if id, ok := entry["face_id"].(string); ok && faceID == "" {
			faceID = strings.TrimSpace(id)
		}
		copied := make(map[string]any, len(entry))
		for k, v := range entry {
			if k != "face_id" {
				copied[k] = v
			}
		}
		return copied
	}
	if liveness, ok := decision["liveness"].(map[string]any); ok {
		out["liveness"] = scrub(liveness)
	}
	if checks, ok := decision["liveness_checks"].([]any); ok {
		copied := make([]any, len(checks))
		for i, c := range checks {
			if entry, ok := c.(map[string]any); ok {
				copied[i] = scrub(entry)
			} else {
				copied[i] = c
			}
		}
		out["liveness_checks"] = copied
	}
	return out, faceID
}

// orEmpty returns m, or an empty map for nil (stored JSON columns are never null).
func orEmpty(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}
