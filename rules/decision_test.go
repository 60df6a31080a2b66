package rules_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/standinghq/standing/rules"
)

// fixtureDecision reads the decision of a vendor webhook fixture.
func fixtureDecision(t *testing.T, name string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "testdata", "didit", name))
	require.NoError(t, err)
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var body struct {
		Decision map[string]any `json:"decision"`
	}
	require.NoError(t, dec.Decode(&body))
	return body.Decision
}

func TestReadDecisionVendorShapes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		fixture, kind string
		features      map[string]string
		profile       map[string]string
		faceID, doc   string
		phone, email  string
	}{
		{
			fixture: "session_v3_user.json", kind: "user",
			features: map[string]string{
				"id_verification": "DECLINED", "nfc": "APPROVED", "liveness": "APPROVED", "face_match": "APPROVED",
				"poa": "IN_REVIEW", "phone": "APPROVED", "email": "APPROVED", "aml": "IN_REVIEW",
				"ip_analysis": "APPROVED", "database_validation": "APPROVED",
			},
			profile: map[string]string{
				"full_name": "Lucía Martín Gómez", "date_of_birth": "1991-07-14", "document_number": "ESX123456",
				"nationality": "ESP", "portrait_image": "https://media.example.org/portrait.jpg",
				"phone": "+442079460958", "email": "lucia@example.org",
			},
			faceID: "face_7a1b2c3d", doc: "ESX123456", phone: "+44 (0)20 7946 0958", email: "lucia@example.org",
		},
		{
			fixture: "session_v2_user.json", kind: "user",
			features: map[string]string{
				"id_verification": "DECLINED", "liveness": "APPROVED", "face_match": "DECLINED", "aml": "APPROVED", "ip_analysis": "APPROVED",
			},
			profile: map[string]string{
				"full_name": "Someone Else", "date_of_birth": "1985-02-02", "document_number": "ESX999999",
				"nationality": "ESP", "portrait_image": "https://media.example.org/other.jpg",
			},
			doc: "ESX999999",
		},
		{
			fixture: "session_v3_business.json", kind: "business",
			features: map[string]string{
				"kyb_registry": "APPROVED", "aml": "APPROVED", "kyb_documents": "APPROVED", "kyb_key_people": "IN_REVIEW",
			},
			profile: map[string]string{"legal_name": "Olivos del Sur SL", "registration_number": "B12345678", "country_code": "ESP"},
		},
	}
	for _, c := range cases {
		t.Run(c.fixture, func(t *testing.T) {
			facts, problems := rules.ReadDecision(c.kind, fixtureDecision(t, c.fixture))
			require.Empty(t, problems, "a body exactly as the vendor sends it is accepted")
			require.Equal(t, c.features, facts.Features)
			require.Equal(t, c.profile, facts.Profile)
			require.Equal(t, c.faceID, facts.FaceID)
			require.Equal(t, c.doc, facts.DocumentNumber)
			require.Equal(t, c.phone, facts.Phone)
			require.Equal(t, c.email, facts.Email)
		})
	}
}

func TestReadDecisionWorstOfSeveralEntries(t *testing.T) {
	t.Parallel()
	entry := func(status string) map[string]any { return map[string]any{"status": status} }
	cases := []struct {
		statuses []string
		want     string
	}{
		{[]string{"Approved"}, "APPROVED"},
		{[]string{"Approved", "Not Finished"}, "NOT_FINISHED"},
		{[]string{"In Progress", "Approved"}, "NOT_FINISHED"},
		{[]string{"Not Finished", "Resubmitted"}, "RESUB_REQUESTED"},
		{[]string{"Resub Requested", "Approved"}, "RESUB_REQUESTED"},
		{[]string{"Approved", "Resubmitted", "In Review"}, "IN_REVIEW"},
		{[]string{"Awaiting User", "Approved"}, "IN_REVIEW"},
		{[]string{"In Review", "Declined", "Approved"}, "DECLINED"},
		{[]string{"DECLINED", "approved"}, "DECLINED"},
	}
	for _, c := range cases {
		list := make([]any, len(c.statuses))
		for i, s := range c.statuses {
			list[i] = entry(s)
		}
		facts, problems := rules.ReadDecision("user", map[string]any{"face_matches": list})
		require.Empty(t, problems, "%v", c.statuses)
		require.Equal(t, c.want, facts.Features["face_match"], "%v", c.statuses)
	}
	require.Equal(t, "DECLINED", rules.WorstFeatureStatus("APPROVED", "DECLINED"))
	require.Equal(t, "IN_REVIEW", rules.WorstFeatureStatus("IN_REVIEW", ""))
}

func TestReadDecisionProfileFromFirstApprovedEntry(t *testing.T) {
	t.Parallel()
	decision := map[string]any{"id_verifications": []any{
		map[string]any{"status": "In Review", "full_name": "Not Me", "document_number": "D1"},
		map[string]any{"status": "Approved", "first_name": "Ana", "last_name": "Ruiz", "document_number": "D2", "nationality": "es"},
		map[string]any{"status": "Approved", "full_name": "Later Approved", "document_number": "D3"},
	}}
	facts, problems := rules.ReadDecision("user", decision)
	require.Empty(t, problems)
	require.Equal(t, map[string]string{"full_name": "Ana Ruiz", "document_number": "D2", "nationality": "ESP"}, facts.Profile)
	require.Equal(t, "D2", facts.DocumentNumber)
	require.Equal(t, "IN_REVIEW", facts.Features["id_verification"])
}

func TestReadDecisionKeepsNonFeatureMembers(t *testing.T) {
	t.Parallel()
	decision := map[string]any{
		"session_id": "s-1", "status": "Approved", "session_number": json.Number("12"), "session_url": "https://x",
		"features": []any{"ID_VERIFICATION"}, "vendor_data": "u", "metadata": map[string]any{"a": "b"},
		"callback": "https://cb", "created_at": "2026-11-25T00:00:00Z", "reviews": []any{map[string]any{"comment": "ok"}},
		"expected_details": map[string]any{"first_name": "Ana"}, "contact_details": nil,
		"questionnaire_responses": nil, "something_new": []any{"x", json.Number("1")},
		"custom_check": map[string]any{"status": "Approved"},
	}
	facts, problems := rules.ReadDecision("user", decision)
	require.Empty(t, problems, "non-feature members are never refused")
	require.Equal(t, map[string]string{"custom_check": "APPROVED"}, facts.Features, "an unknown member with a status is kept as a feature under its own name")
}

func TestReadDecisionBadInput(t *testing.T) {
	t.Parallel()
	cases := []struct {
		decision map[string]any
		path     string
	}{
		{map[string]any{"id_verifications": []any{"Approved"}}, "decision.id_verifications[0]"},
		{map[string]any{"liveness_checks": []any{map[string]any{"status": "Approved"}, json.Number("3")}}, "decision.liveness_checks[1]"},
		{map[string]any{"aml_screenings": []any{map[string]any{"node_id": "n"}}}, "decision.aml_screenings[0].status"},
		{map[string]any{"face_matches": "Approved"}, "decision.face_matches"},
		{map[string]any{"id_verification": []any{json.Number("1")}}, "decision.id_verification[0]"},
		{map[string]any{"liveness": true}, "decision.liveness"},
		{map[string]any{"poa_verifications": []any{map[string]any{"status": "Maybe"}}}, "decision.poa_verifications[0].status"},
		{map[string]any{"id_verifications": []any{map[string]any{"status": "Approved", "nationality": "XYZ"}}}, "decision.id_verifications[0].nationality"},
		{map[string]any{"phone_verifications": []any{map[string]any{"status": "Approved", "full_number": "12"}}}, "decision.phone_verifications[0].phone"},
	}
	for _, c := range cases {
		_, problems := rules.ReadDecision("user", c.decision)
		require.Contains(t, problems, c.path, "%v", c.decision)
	}
}
