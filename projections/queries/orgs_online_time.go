package queries

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections/directory"
	"github.com/chorus-chat/chorus/projections/onlinetime"
)

// OnlineTimeReports computes online-time reports (onlinetime.Store).
type OnlineTimeReports interface {
	Report(ctx context.Context, q onlinetime.ReportQuery) (onlinetime.Report, error)
}

// MaxOnlineTimeDays bounds the days of one report.
const MaxOnlineTimeDays = 366

// OnlineTime is the input of an online-time report: From and To are days (YYYY-MM-DD, both
// included) in the organization's time zone.
type OnlineTime struct {
	OrgRead
	From, To     string
	DepartmentID *uuid.UUID
	UserID       *uuid.UUID
}

// Check refuses days that are not dates, an inverted range and one over MaxOnlineTimeDays.
func (in OnlineTime) Check() error {
	_, _, err := in.days()
	return err
}

func (in OnlineTime) days() (from, to time.Time, err error) {
	from, err = time.Parse(onlinetime.DateLayout, in.From)
	if err != nil {
		return from, to, errValidation("from must be a date (YYYY-MM-DD)")
	}
	to, err = time.Parse(onlinetime.DateLayout, in.To)
	if err != nil {
		return from, to, errValidation("to must be a date (YYYY-MM-DD)")
	}
	if to.Before(from) {
		return from, to, errValidation("to is before from")
	}
	if to.Sub(from) >= MaxOnlineTimeDays*24*time.Hour {
		return from, to, errValidation("a report covers at most %d days", MaxOnlineTimeDays)
	}
	return from, to, nil
}

// OnlineTime reports how long members of an organization were online, per day. Members only
// (org_not_found to others). The whole organization's needs read_online_time over it; a
// department subtree's, read_online_time over that department or one above it (a department
// admin's grant); a member may always read their own (UserID the viewer). Anything else is
// forbidden. Like the audit log, it is decided from the grants as the directory holds them.
func (a *Application) OnlineTime(ctx context.Context, viewer uuid.UUID, in OnlineTime) (onlinetime.Report, error) {
	from, to, err := in.days()
	if err != nil {
		return onlinetime.Report{}, err
	}
	if err := a.memberOf(ctx, viewer, in.OrgRead); err != nil {
		return onlinetime.Report{}, err
	}
	if a.online == nil {
		return onlinetime.Report{}, newError(CodeUnavailable, "online-time reports are not available on this gateway")
	}
	if in.DepartmentID != nil {
		if err := a.department(ctx, in.OrgID, *in.DepartmentID); err != nil {
			return onlinetime.Report{}, err
		}
	}
	allowed, err := a.mayReadOnlineTime(ctx, viewer, in)
	if err != nil {
		return onlinetime.Report{}, err
	}
	if !allowed {
		return onlinetime.Report{}, &Error{Code: domain.CodeForbidden, Message: "reading online time needs read_online_time over the organization or the department"}
	}
	return a.online.Report(ctx, onlinetime.ReportQuery{OrgID: in.OrgID, From: from, To: to,
		DepartmentID: in.DepartmentID, UserID: in.UserID, Now: time.Now()})
}

func (a *Application) mayReadOnlineTime(ctx context.Context, viewer uuid.UUID, in OnlineTime) (bool, error) {
	if in.UserID != nil && *in.UserID == viewer {
		return true, nil
	}
	all, depts, err := a.permScopes(ctx, in.OrgID, viewer, domain.PermReadOnlineTime)
	if err != nil || all {
		return all, err
	}
	scopes := map[uuid.UUID]bool{} // the departments the viewer holds it over
	for _, d := range depts {
		scopes[d] = true
	}
	if in.DepartmentID == nil || len(scopes) == 0 {
		return false, nil
	}
	// Up from the department to the top: a grant over any of them covers it.
	for dept, depth := in.DepartmentID, 0; dept != nil && depth <= domain.MaxDepartmentDepth; depth++ {
		if scopes[*dept] {
			return true, nil
		}
		d, err := a.dir.Department(ctx, in.OrgID, *dept)
		if errors.Is(err, directory.ErrNotFound) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		dept = d.ParentID
	}
	return false, nil
}
