package ingest

import (
	"encoding/json"
	"strings"
)

// vendorTransactionMembers are the top-level members of the vendor's documented
// transaction body that Standing keeps in the transaction's metadata as sent.
var vendorTransactionMembers = []string{
	"transaction_category", "time_zone", "custom_properties", "network_snapshot",
	"include_aml_screening", "travel_rule", "travel_rule_info",
}

// vendorEntityKinds maps the vendor's party entity_type to Standing's entity kinds.
var vendorEntityKinds = map[string]string{"individual": "user", "company": "business"}

// fromVendorTransaction rewrites a transaction body in the vendor's documented shape
// (transaction_details, subject and counterparty objects) into Standing's flat shape,
// in place, keeping the members Standing does not read in metadata (under
// "transaction_details", "subject", "counterparty" and their own names). A body in the
// flat shape is left alone; one mixing both shapes is refused.
func fromVendorTransaction(f *fields) {
	if !f.has("transaction_details") && !f.has("subject") {
		return
	}
	for _, flat := range []string{"vendor_data", "subject_kind", "amount", "currency", "direction"} {
		if f.has(flat) {
			f.fail(flat, "send either the flat shape or the vendor's shape (transaction_details, subject), not both")
			return
		}
	}
	meta := f.Object("metadata")
	if meta == nil {
		meta = map[string]any{}
	}
	if details := f.Object("transaction_details"); details != nil {
		for member, flat := range map[string]string{"amount": "amount", "currency": "currency", "direction": "direction"} {
			v, ok := details[member]
			if !ok {
				continue
			}
			delete(details, member)
			if n, isNumber := v.(json.Number); isNumber && member == "amount" {
				// The vendor's own examples send amounts as numbers: the literal is kept
				// exactly (no float rounding), as if it had been a decimal string.
				v = n.String()
			}
			if s, isString := v.(string); isString && member == "direction" {
				v = strings.ToLower(strings.TrimSpace(s))
			}
			f.raw[flat] = mustJSON(v)
		}
		if len(details) > 0 {
			meta["transaction_details"] = details
		}
	} else if !f.has("transaction_details") {
		f.require("transaction_details")
	}
	if subject := f.Object("subject"); subject != nil {
		party(f, "subject", subject, "vendor_data", "subject_kind")
		if len(subject) > 0 {
			meta["subject"] = subject
		}
	} else if _, bad := f.problems["subject"]; !bad {
		f.require("subject")
	}
	if f.has("counterparty") {
		if cp := f.Object("counterparty"); cp != nil {
			rest := map[string]any{}
			for k, v := range cp {
				rest[k] = v
			}
			if vd, ok := cp["vendor_data"]; ok && vd != nil {
				flat := map[string]any{"vendor_data": vd}
				if kind := partyKind(f, "counterparty", cp); kind != "" {
					flat["kind"] = kind
				}
				delete(rest, "vendor_data")
				delete(rest, "entity_type")
				f.raw["counterparty"] = mustJSON(flat)
				f.used["counterparty"] = false
			} else {
				// An external party without a vendor_data is not an entity: kept as sent.
				delete(f.raw, "counterparty")
			}
			if len(rest) > 0 {
				meta["counterparty"] = rest
			}
		}
	}
	for _, name := range vendorTransactionMembers {
		if raw, ok := f.raw[name]; ok {
			if v, err := decodeValue(raw); err != nil {
				f.fail(name, err.Error())
			} else {
				meta[name] = v
			}
			f.used[name] = true
		}
	}
	f.raw["metadata"] = mustJSON(meta)
	f.used["metadata"] = false
}

// party moves a vendor party's vendor_data and entity_type to the flat members vdName
// and kindName, deleting them from obj.
func party(f *fields, name string, obj map[string]any, vdName, kindName string) {
	if vd, ok := obj["vendor_data"]; ok {
		f.raw[vdName] = mustJSON(vd)
		delete(obj, "vendor_data")
	} else {
		f.fail(name+".vendor_data", "is required: Standing attaches a transaction to the entity it names")
	}
	if kind := partyKind(f, name, obj); kind != "" {
		f.raw[kindName] = mustJSON(kind)
	}
	delete(obj, "entity_type")
}

// partyKind reads a vendor party's entity_type as an entity kind ("" when absent).
func partyKind(f *fields, name string, obj map[string]any) string {
	raw, ok := obj["entity_type"]
	if !ok || raw == nil {
		return ""
	}
	s, _ := raw.(string)
	kind, ok := vendorEntityKinds[strings.ToLower(s)]
	if !ok {
		f.fail(name+".entity_type", `must be "individual" or "company": Standing keeps users and businesses only (external parties and unhosted wallets are not entities)`)
		return ""
	}
	return kind
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		return json.RawMessage(`null`)
	}
	return b
}
