package rules

import (
	"fmt"
	"sort"
	"strings"
)

// v3Features maps each feature list of the vendor's v3 decision (one entry per workflow
// node) to the feature name Standing keeps, which is the vendor's v2 name.
var v3Features = map[string]string{
	"id_verifications":        "id_verification",
	"nfc_verifications":       "nfc",
	"liveness_checks":         "liveness",
	"face_matches":            "face_match",
	"poa_verifications":       "poa",
	"document_ai_documents":   "document_ai",
	"phone_verifications":     "phone",
	"email_verifications":     "email",
	"aml_screenings":          "aml",
	"ip_analyses":             "ip_analysis",
	"database_validations":    "database_validation",
	"questionnaire_responses": "questionnaire",
	// Business (KYB) sessions.
	"registry_checks":        "kyb_registry",
	"key_people_checks":      "kyb_key_people",
	"document_verifications": "kyb_documents",
}

// v2Features lists the feature objects of the vendor's v2 decision.
var v2Features = map[string]bool{
	"id_verification": true, "nfc": true, "liveness": true, "face_match": true, "poa": true,
	"document_ai": true, "phone": true, "email": true, "aml": true, "ip_analysis": true,
	"database_validation": true, "questionnaire": true,
	"kyb_registry": true, "kyb_key_people": true, "kyb_documents": true,
}

// FeatureName returns the feature a decision member reports and whether it is one:
// a v2 feature object keeps its name, a v3 feature list maps to the v2 name.
func FeatureName(member string) (string, bool) {
	if v2Features[member] {
		return member, true
	}
	name, ok := v3Features[member]
	return name, ok
}

// featureSeverity orders feature statuses for several entries of one feature: the
// feature's status is the worst, Declined > In Review > Resubmitted > not finished >
// Approved.
var featureSeverity = map[string]int{
	FeatureApproved: 0, FeatureNotFinished: 1, FeatureResubRequested: 2, FeatureInReview: 3, FeatureDeclined: 4,
}

// WorstFeatureStatus returns the worse of two feature statuses (an empty one loses).
func WorstFeatureStatus(a, b string) string {
	if a == "" {
		return b
	}
	if b == "" || featureSeverity[a] >= featureSeverity[b] {
		return a
	}
	return b
}

// EntryFeatureStatus reads the status of one feature entry: a session status ("In
// Review") or a feature status in the vendor's words ("Not Finished", "Resub
// Requested") or Standing's ("IN_REVIEW"), in any letter case.
func EntryFeatureStatus(s string) (string, bool) {
	if f, ok := FeatureStatus(s); ok {
		return f, true
	}
	norm := strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(s), " ", "_"))
	if _, ok := featureSeverity[norm]; ok {
		return norm, true
	}
	for _, st := range SessionStatuses() {
		if strings.EqualFold(st, strings.TrimSpace(s)) {
			f, _ := FeatureStatus(st)
			return f, true
		}
	}
	return "", false
}

// featureStatusWords is the vocabulary named in problems about entry statuses.
const featureStatusWords = "a session status (Approved, Declined, In Review, …) or a feature status (Not Finished, Resub Requested)"

// DecisionFacts is what Standing reads from a session's decision.
type DecisionFacts struct {
	// Features maps each reported feature to its status (APPROVED, DECLINED, IN_REVIEW,
	// NOT_FINISHED, RESUB_REQUESTED): for several entries, the worst.
	Features map[string]string
	// Profile holds the profile fields the decision reports for the entity's kind,
	// normalised.
	Profile map[string]string
	// FaceID, DocumentNumber, Email and Phone are matched against blocklists.
	FaceID, DocumentNumber, Email, Phone string
}

// ReadDecision reads a session decision in either of the vendor's shapes: v2, an object
// per feature ("id_verification": {...}), or v3, a list per feature with an entry per
// workflow node ("id_verifications": [{...}, ...]); an unknown member holding an object
// or a list of objects with a "status" is an unknown feature kept under its own name.
// Every other member (session_id, status, features, callback, reviews, created_at, …)
// is not a feature: it is kept with the session and never refused. Problems are keyed
// by the member's path (decision.id_verifications[1].status); a decision with problems
// must be refused.
func ReadDecision(kind string, decision map[string]any) (DecisionFacts, map[string]string) {
	facts := DecisionFacts{Features: map[string]string{}, Profile: map[string]string{}}
	problems := map[string]string{}
	members := make([]string, 0, len(decision))
	for m := range decision {
		members = append(members, m)
	}
	// v2 names before v3 names, so that a decision carrying both reads the same always.
	sort.Strings(members)
	for _, member := range members {
		feature, known := FeatureName(member)
		entries, ok := featureEntries(member, decision[member], known, problems)
		if !ok {
			continue
		}
		if !known {
			feature = member
		}
		readFeature(kind, feature, "decision."+member, entries, len(entries) > 1 || isList(decision[member]), &facts, problems)
	}
	return facts, problems
}

func isList(v any) bool {
	_, ok := v.([]any)
	return ok
}

// featureEntries returns the entries of a decision member that reports a feature, or
// false when the member is not a feature (or null, or has problems, recorded).
func featureEntries(member string, raw any, known bool, problems map[string]string) ([]map[string]any, bool) {
	path := "decision." + member
	switch v := raw.(type) {
	case nil:
		return nil, false
	case map[string]any:
		if !known {
			_, hasStatus := v["status"].(string)
			return []map[string]any{v}, hasStatus
		}
		return []map[string]any{v}, true
	case []any:
		entries := make([]map[string]any, 0, len(v))
		for i, e := range v {
			obj, ok := e.(map[string]any)
			if !ok {
				if !known {
					return nil, false
				}
				problems[fmt.Sprintf("%s[%d]", path, i)] = "must be an object: a v3 feature list holds one object per workflow node"
				continue
			}
			if !known {
				if _, hasStatus := obj["status"].(string); !hasStatus {
					return nil, false
				}
			}
			entries = append(entries, obj)
		}
		return entries, len(entries) > 0
	default:
		if known {
			problems[path] = "must be an object (v2 decision) or a list of objects (v3 decision)"
		}
		return nil, false
	}
}

// readFeature reads the entries of one feature: its worst status, and the profile and
// matched values of the first approved entry (the first entry when none is approved).
func readFeature(kind, feature, path string, entries []map[string]any, list bool, facts *DecisionFacts, problems map[string]string) {
	chosen, chosenPath := -1, ""
	for i, obj := range entries {
		p := path
		if list {
			p = fmt.Sprintf("%s[%d]", path, i)
		}
		st, present := obj["status"]
		switch s, isString := st.(string); {
		case !present || st == nil:
			if list {
				problems[p+".status"] = "is required in every entry of a v3 feature list"
				continue
			}
		case !isString:
			problems[p+".status"] = "must be " + featureStatusWords
			continue
		default:
			status, ok := EntryFeatureStatus(s)
			if !ok {
				problems[p+".status"] = "must be " + featureStatusWords
				continue
			}
			facts.Features[feature] = WorstFeatureStatus(facts.Features[feature], status)
			if status == FeatureApproved && (chosen < 0 || !approvedEntry(entries[chosen])) {
				chosen, chosenPath = i, p
			}
		}
		if chosen < 0 {
			chosen, chosenPath = i, p
		}
	}
	if chosen >= 0 {
		readEntry(kind, feature, chosenPath, entries[chosen], facts, problems)
	}
}

func approvedEntry(obj map[string]any) bool {
	s, _ := obj["status"].(string)
	st, _ := EntryFeatureStatus(s)
	return st == FeatureApproved
}
