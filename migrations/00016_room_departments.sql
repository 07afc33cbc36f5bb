-- A department room's department in the read model's rooms (domain/room_department.go): set by
-- RoomLinkedToDepartment, cleared by RoomReleased (the department was deleted), NULL for every
-- other room. The room views show it as "department", with the department's name read from the
-- directory (org_departments); GET /rooms?org= lists an organization's department rooms.
-- Rows the read model has already are filled from the directory's department rooms, which hold
-- the same link from DepartmentRoomCreated until the department is deleted.

-- +goose Up
ALTER TABLE rooms ADD COLUMN department_org_id uuid, ADD COLUMN department_id uuid;

CREATE INDEX rooms_department_org_idx ON rooms (department_org_id, name, id) WHERE department_org_id IS NOT NULL;

UPDATE rooms r SET department_org_id = d.org_id, department_id = d.department_id
FROM org_department_rooms d WHERE d.room_id = r.id;

-- +goose Down
DROP INDEX rooms_department_org_idx;
ALTER TABLE rooms DROP COLUMN department_id, DROP COLUMN department_org_id;
