package gateway

import (
	"bytes"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/chorus-chat/chorus/projections/onlinetime"
	"github.com/chorus-chat/chorus/projections/queries"
)

// orgOnlineTime: GET /orgs/{id}/reports/online-time?from=&to=&department_id=&user_id=&format=&position=:
// seconds online per member and day (queries.OnlineTime says who may read what), as JSON or,
// with format=csv, as CSV (a row per member and day).
func (g *Gateway) orgOnlineTime(c echo.Context) error {
	read, err := g.orgRead(c)
	if err != nil {
		return err
	}
	format := c.QueryParam("format")
	if format != "" && format != "json" && format != "csv" {
		return errValidation("format must be json or csv")
	}
	in := queries.OnlineTime{OrgRead: read, From: c.QueryParam("from"), To: c.QueryParam("to")}
	if in.DepartmentID, err = idQuery(c, "department_id"); err != nil {
		return err
	}
	if in.UserID, err = idQuery(c, "user_id"); err != nil {
		return err
	}
	report, err := g.queries.OnlineTime(c.Request().Context(), currentUser(c), in)
	if err != nil {
		return err
	}
	if format != "csv" {
		return c.JSON(http.StatusOK, report)
	}
	var b bytes.Buffer
	if err := onlinetime.WriteCSV(&b, report); err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderContentDisposition, `attachment; filename="online-time.csv"`)
	return c.Blob(http.StatusOK, "text/csv; charset=utf-8", b.Bytes())
}
