package domain_test

import (
	"fmt"
	"testing"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
)

// bigOrg is an organization of 50,000 members in 2,000 departments, 8 levels deep (a tree of
// three children each), each member in one department, a department admin over each of the
// first 100 departments. It returns the organization, its departments and members.
func bigOrg(b *testing.B) (*domain.Organization, []uuid.UUID, []uuid.UUID) {
	b.Helper()
	const departments, members = 2000, 50000
	o := domain.NewOrganization(orgID)
	v := int64(0)
	apply := func(d domain.EventData) {
		v++
		o.Apply(domain.Event{Type: d.EventType(), AggregateType: domain.AggregateOrganization, AggregateID: orgID, Version: v, Data: d})
	}
	for _, d := range newOrg() {
		apply(d)
	}
	apply(roleCreated(roleDeptAdm, "Department admin", deptAdminPerms, alice))
	depts := make([]uuid.UUID, departments)
	for i := range depts {
		depts[i] = domain.DepartmentIDFor(cid(fmt.Sprint("big/dept/", i)))
		var parent *uuid.UUID
		if i > 0 {
			parent = &depts[(i-1)/3]
		}
		apply(deptCreated(depts[i], parent, fmt.Sprint("Department ", i), i, alice))
	}
	users := make([]uuid.UUID, members)
	for i := range users {
		users[i] = uuid.NewSHA1(testNS, []byte(fmt.Sprint("big/user/", i)))
		apply(domain.OrgMemberJoined{OrgID: orgID, UserID: users[i], Username: fmt.Sprint("user", i), Via: domain.JoinedByAdding, AddedBy: alice})
		apply(deptAdded(depts[i%departments], users[i], true, alice))
		if i < 100 {
			apply(granted(users[i], roleDeptAdm, &depts[i], alice))
		}
	}
	if d, _ := o.Department(depts[departments-1]); d.Depth != 7 {
		b.Fatalf("the last department is at depth %d, want 7 (8 levels)", d.Depth)
	}
	return o, depts, users
}

// Deciding a command on the big organization costs what the command touches, not the
// organization's size.
func BenchmarkOrgDecide(b *testing.B) {
	o, depts, users := bigOrg(b)
	leaf := depts[1093] // 8th level, in the subtree of depts[1], whose admin users[1] is
	cases := []struct {
		name  string
		actor uuid.UUID
		p     domain.CommandData
	}{
		{"add_department_member by a department admin deep in his subtree", users[1],
			domain.AddDepartmentMember{DepartmentID: leaf, UserID: users[2]}},
		{"move_department of a subtree", alice, domain.MoveDepartment{DepartmentID: depts[2], ParentID: &depts[1], SortOrder: 9}},
		{"create_department", alice, domain.CreateDepartment{ParentID: &leaf, Name: "New"}},
		{"grant_org_role over a department", users[1], domain.GrantOrgRole{UserID: users[5], RoleID: roleDeptAdm, DepartmentID: &leaf}},
		{"remove_org_member", alice, domain.RemoveOrgMember{UserID: users[40000]}},
		{"rejected: a member's update", users[30000], domain.UpdateOrganization{Name: str("x")}},
	}
	for _, c := range cases {
		cmd := orgCmd("bench/"+c.name, c.actor, c.p)
		if _, err := o.Decide(cmd, now); (err == nil) == (c.p.CommandType() == domain.CmdUpdateOrganization) {
			b.Fatalf("%s: %v", c.name, err)
		}
		b.Run(c.name, func(b *testing.B) {
			for range b.N {
				_, _ = o.Decide(cmd, now)
			}
		})
	}
}
