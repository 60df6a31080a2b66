package models

import (
	"context"
	"strings"
	"time"

	"github.com/standinghq/standing/rules"
)

// Entity kinds.
const (
	KindUser     = "user"
	KindBusiness = "business"
)

// ValidStatus reports whether s is one of the entity statuses.
func ValidStatus(s string) bool {
	return s == rules.EntityActive || s == rules.EntityFlagged || s == rules.EntityBlocked
}

// ValidKind reports whether k is an entity kind.
func ValidKind(k string) bool { return k == KindUser || k == KindBusiness }

// MaxVendorDataBytes is the longest vendor_data accepted, after trimming.
const MaxVendorDataBytes = 2000

// userProfileFields and businessProfileFields are the profile fields of each kind, in the
// order the API shows them.
var (
	userProfileFields = []string{
		"full_name", "display_name", "date_of_birth", "portrait_image",
		"nationality", "document_number", "email", "phone",
	}
	businessProfileFields = []string{
		"legal_name", "display_name", "registration_number", "country_code", "region",
	}
)

// ProfileFields returns the names of the profile fields of kind.
func ProfileFields(kind string) []string {
	if kind == KindBusiness {
		return append([]string(nil), businessProfileFields...)
	}
	return append([]string(nil), userProfileFields...)
}

// Entity is a User or a Business of one application.
type Entity struct {
	ID            string            `gorm:"primaryKey"`
	ApplicationID string            `gorm:"not null"`
	Kind          string            `gorm:"not null"`
	VendorData    string            `gorm:"not null"`
	Status        string            `gorm:"not null"`
	StatusReason  *string           //
	SessionCount  int               `gorm:"not null"`
	ApprovedCount int               `gorm:"not null"`
	DeclinedCount int               `gorm:"not null"`
	InReviewCount int               `gorm:"not null"`
	Features      map[string]string `gorm:"serializer:json;not null"`
	Metadata      map[string]any    `gorm:"serializer:json;not null"`
	EventSequence int64             `gorm:"not null"`
	// FeaturesAt holds, per feature, the upstream time (unix seconds) of the event that set it.
	FeaturesAt map[string]int64 `gorm:"serializer:json;not null"`
	// StatusChangedAt is when the entity entered its current status.
	StatusChangedAt *time.Time
	// StatusEffectiveAt is when the status took effect for events of sessions known before
	// it: the causing event's upstream time for automatic changes caused by a session
	// event, StatusChangedAt otherwise.
	StatusEffectiveAt *time.Time
	// StatusRequestedAt is when the manual change that set the status was requested.
	StatusRequestedAt *time.Time
	// ProfileAt is the upstream time of the approved session the profile came from.
	ProfileAt      *time.Time
	FirstSessionAt *time.Time
	LastSessionAt  *time.Time
	LastActivityAt *time.Time
	CreatedAt      time.Time `gorm:"not null"`
	UpdatedAt      time.Time `gorm:"not null"`
	DeletedAt      *time.Time
	// RiskScore is min(100, the sum of RiskSignals' weights), kept with them.
	RiskScore   int                `gorm:"not null"`
	RiskSignals []rules.RiskSignal `gorm:"serializer:json;not null"`

	FullName           *string
	DisplayName        *string
	DateOfBirth        *string
	PortraitImage      *string
	Nationality        *string
	DocumentNumber     *string
	Email              *string
	Phone              *string
	LegalName          *string
	RegistrationNumber *string
	CountryCode        *string
	Region             *string
}

// TableName is the table of entities.
func (Entity) TableName() string { return "entities" }

// profileField returns a pointer to the field holding the profile value name.
func (e *Entity) profileField(name string) **string {
	switch name {
	case "full_name":
		return &e.FullName
	case "display_name":
		return &e.DisplayName
	case "date_of_birth":
		return &e.DateOfBirth
	case "portrait_image":
		return &e.PortraitImage
	case "nationality":
		return &e.Nationality
	case "document_number":
		return &e.DocumentNumber
	case "email":
		return &e.Email
	case "phone":
		return &e.Phone
	case "legal_name":
		return &e.LegalName
	case "registration_number":
		return &e.RegistrationNumber
	case "country_code":
		return &e.CountryCode
	case "region":
		return &e.Region
	}
	panic("models: unknown profile field " + name)
}

// Profile returns the entity's profile fields of its kind, nil for unset ones.
func (e *Entity) Profile() map[string]*string {
	out := map[string]*string{}
	for _, name := range ProfileFields(e.Kind) {
		out[name] = *e.profileField(name)
	}
	return out
}

// EntityResource is the JSON shape of an entity in the API and in webhook bodies.
type EntityResource struct {
	UUID           string             `json:"uuid"`
	VendorData     string             `json:"vendor_data"`
	Kind           string             `json:"kind"`
	Status         string             `json:"status"`
	StatusReason   *string            `json:"status_reason"`
	SessionCount   int                `json:"session_count"`
	ApprovedCount  int                `json:"approved_count"`
	DeclinedCount  int                `json:"declined_count"`
	InReviewCount  int                `json:"in_review_count"`
	Features       map[string]string  `json:"features"`
	Metadata       map[string]any     `json:"metadata"`
	FirstSessionAt *string            `json:"first_session_at"`
	LastSessionAt  *string            `json:"last_session_at"`
	LastActivityAt *string            `json:"last_activity_at"`
	CreatedAt      string             `json:"created_at"`
	UpdatedAt      string             `json:"updated_at"`
	DeletedAt      *string            `json:"deleted_at"`
	RiskScore      int                `json:"risk_score"`
	RiskSignals    []rules.RiskSignal `json:"risk_signals"`
	DisplayName    *string            `json:"display_name"`
	// Comments are the entity's latest status records (why, by whom, from, to, when),
	// newest first; the API sets them, webhook bodies leave them out.
	Comments *[]StatusComment `json:"comments,omitempty"`
	*UserProfile
	*BusinessProfile
}

// UserProfile are the profile fields of a user (display_name, shared by both kinds, is in
// EntityResource).
type UserProfile struct {
	FullName       *string `json:"full_name"`
	DateOfBirth    *string `json:"date_of_birth"`
	PortraitImage  *string `json:"portrait_image"`
	Nationality    *string `json:"nationality"`
	DocumentNumber *string `json:"document_number"`
	Email          *string `json:"email"`
	Phone          *string `json:"phone"`
}

// BusinessProfile are the profile fields of a business, besides display_name.
type BusinessProfile struct {
	LegalName          *string `json:"legal_name"`
	RegistrationNumber *string `json:"registration_number"`
	CountryCode        *string `json:"country_code"`
	Region             *string `json:"region"`
}

// Resource returns the entity's JSON shape.
func (e *Entity) Resource() EntityResource {
	r := EntityResource{
		UUID:           e.ID,
		VendorData:     e.VendorData,
		Kind:           e.Kind,
		Status:         e.Status,
		StatusReason:   e.StatusReason,
		SessionCount:   e.SessionCount,
		ApprovedCount:  e.ApprovedCount,
		DeclinedCount:  e.DeclinedCount,
		InReviewCount:  e.InReviewCount,
		Features:       e.Features,
		Metadata:       e.Metadata,
		FirstSessionAt: FormatTimePtr(e.FirstSessionAt),
		LastSessionAt:  FormatTimePtr(e.LastSessionAt),
		LastActivityAt: FormatTimePtr(e.LastActivityAt),
		CreatedAt:      FormatTime(e.CreatedAt),
		UpdatedAt:      FormatTime(e.UpdatedAt),
		DeletedAt:      FormatTimePtr(e.DeletedAt),
		DisplayName:    e.DisplayName,
		RiskScore:      e.RiskScore,
		RiskSignals:    e.RiskSignals,
	}
	if r.RiskSignals == nil {
		r.RiskSignals = []rules.RiskSignal{}
	}
	if r.Features == nil {
		r.Features = map[string]string{}
	}
	if r.Metadata == nil {
		r.Metadata = map[string]any{}
	}
	if e.Kind == KindBusiness {
		r.BusinessProfile = &BusinessProfile{
			LegalName:          e.LegalName,
			RegistrationNumber: e.RegistrationNumber, CountryCode: e.CountryCode, Region: e.Region,
		}
	} else {
		r.UserProfile = &UserProfile{
			FullName: e.FullName, DateOfBirth: e.DateOfBirth,
			PortraitImage: e.PortraitImage, Nationality: e.Nationality,
			DocumentNumber: e.DocumentNumber, Email: e.Email, Phone: e.Phone,
		}
	}
	return r
}

// FormatTime writes t as an RFC 3339 UTC string.
func FormatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// FormatTimePtr writes t as an RFC 3339 UTC string, or nil.
func FormatTimePtr(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := FormatTime(*t)
	return &s
}

// GetEntity returns the live entity with vendorData or, when there is none, the most
// recently deleted one that has not been purged.
func (s *Store) GetEntity(ctx context.Context, appID, kind, vendorData string) (*Entity, error) {
	var e Entity
	err := s.db.WithContext(ctx).
		Where("application_id = ? AND kind = ? AND vendor_data = ?", appID, kind, vendorData).
		Order("deleted_at IS NOT NULL, deleted_at DESC").
		Take(&e).Error
	if err != nil {
		return nil, notFound(err, kind)
	}
	return &e, nil
}

// EntityFilter selects entities in ListEntities.
type EntityFilter struct {
	// Status keeps only entities with this status, when set.
	Status string
	// Search keeps entities whose vendor_data or names contain it, case-insensitively.
	Search string
	Limit  int
	Offset int
}

// ListEntities returns one page of live entities, newest first, and the number of all
// entities matching the filter.
func (s *Store) ListEntities(ctx context.Context, appID, kind string, f EntityFilter) ([]Entity, int64, error) {
	q := s.db.WithContext(ctx).Model(&Entity{}).
		Where("application_id = ? AND kind = ? AND deleted_at IS NULL", appID, kind)
	if f.Status != "" {
		q = q.Where("status = ?", f.Status)
	}
	if f.Search != "" {
		pattern := "%" + escapeLike(strings.ToLower(f.Search)) + "%"
		columns := []string{"vendor_data", "display_name"}
		if kind == KindBusiness {
			columns = append(columns, "legal_name", "registration_number")
		} else {
			columns = append(columns, "full_name", "email")
		}
		conds := make([]string, len(columns))
		args := make([]any, len(columns))
		for i, c := range columns {
			conds[i] = "LOWER(" + c + `) LIKE ? ESCAPE '\'`
			args[i] = pattern
		}
		q = q.Where("("+strings.Join(conds, " OR ")+")", args...)
	}
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return nil, 0, err
	}
	var out []Entity
	err := q.Order("created_at DESC, id DESC").Limit(f.Limit).Offset(f.Offset).Find(&out).Error
	return out, total, err
}

// escapeLike escapes LIKE's wildcards so that a search matches them literally.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// EntityPatch is a partial update of an entity's profile.
type EntityPatch struct {
	// Profile holds the fields to change; a nil value clears the field.
	Profile map[string]*string
	// Metadata replaces the metadata wholesale when MetadataSet.
	Metadata    map[string]any
	MetadataSet bool
}

// UpdateEntity applies patch to the live entity with vendorData. Only fields whose value
// changes are written and announced; a patch that changes nothing writes nothing.
func (s *Store) UpdateEntity(ctx context.Context, appID, kind, vendorData string, patch EntityPatch) (*Entity, error) {
	var out *Entity
	err := s.transaction(ctx, func(tx *txn) error {
		e, err := liveEntityForUpdate(tx, appID, kind, vendorData)
		if err != nil {
			return err
		}
		out = e
		var changed []string
		for _, name := range ProfileFields(kind) {
			v, ok := patch.Profile[name]
			if !ok {
				continue
			}
			field := e.profileField(name)
			if equalStringPtr(*field, v) {
				continue
			}
			*field = v
			changed = append(changed, name)
		}
		if patch.MetadataSet {
			md := patch.Metadata
			if md == nil {
				md = map[string]any{}
			}
			if !equalJSON(e.Metadata, md) {
				e.Metadata = md
				changed = append(changed, "metadata")
			}
		}
		if len(changed) == 0 {
			return nil
		}
		w := newEntityWriter(tx, e)
		e.LastActivityAt = &w.now
		if err := w.dataUpdated(changed); err != nil {
			return err
		}
		if err := w.activity(ActivityProfileUpdated, map[string]any{"changed_fields": changed}); err != nil {
			return err
		}
		if err := applyCountryLists(tx, w, e, changed); err != nil {
			return err
		}
		if err := screenProfileChange(tx, w, e, changed); err != nil {
			return err
		}
		return w.save()
	})
	return out, err
}

// DeleteEntities soft-deletes the live entities named in vendorDataList, or every live
// entity of kind when all is set, and returns how many it deleted. Each deletion is
// announced with kind.data.updated (changed_fields ["deleted_at"]).
func (s *Store) DeleteEntities(ctx context.Context, appID, kind string, vendorDataList []string, all bool) (int, error) {
	const batch = 200
	deleted := 0
	if all {
		for {
			n, err := s.deleteBatch(ctx, appID, kind, nil, batch)
			deleted += n
			if err != nil || n < batch {
				return deleted, err
			}
		}
	}
	for start := 0; start < len(vendorDataList); start += batch {
		names := vendorDataList[start:min(start+batch, len(vendorDataList))]
		n, err := s.deleteBatch(ctx, appID, kind, names, batch)
		deleted += n
		if err != nil {
			return deleted, err
		}
	}
	return deleted, nil
}

// deleteBatch deletes up to limit live entities (those named, or any when names is nil)
// in one transaction.
func (s *Store) deleteBatch(ctx context.Context, appID, kind string, names []string, limit int) (int, error) {
	n := 0
	err := s.transaction(ctx, func(tx *txn) error {
		q := forUpdate(tx).Where("application_id = ? AND kind = ? AND deleted_at IS NULL", appID, kind)
		if names != nil {
			q = q.Where("vendor_data IN ?", names)
		}
		var rows []Entity
		// Locked in vendor_data byte order, the order in which transaction evaluation locks
		// its parties, so that the two never deadlock.
		if err := q.Order(s.byteOrder("vendor_data")).Limit(limit).Find(&rows).Error; err != nil {
			return err
		}
		now := tx.Now()
		for i := range rows {
			e := &rows[i]
			e.DeletedAt = &now
			e.LastActivityAt = &now
			w := newEntityWriter(tx, e)
			if err := w.dataUpdated([]string{"deleted_at"}); err != nil {
				return err
			}
			if err := w.activity(ActivityDeleted, map[string]any{}); err != nil {
				return err
			}
			if err := w.save(); err != nil {
				return err
			}
		}
		if len(rows) > 0 {
			if err := eraseFaceIDs(tx, rows); err != nil {
				return err
			}
		}
		n = len(rows)
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

func equalStringPtr(a, b *string) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}
