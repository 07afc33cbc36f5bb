-- GET /rooms pages through the live rooms by (name, id) with a cursor (readmodel.ListRooms):
-- this index lets each page start at the cursor and stop after a page, instead of sorting
-- every room for every page (measured at 100,000 rooms: 35 ms a page without it, 1 ms with it).

-- +goose Up
CREATE INDEX rooms_listing_idx ON rooms (name, id) WHERE deleted_at IS NULL;

-- +goose Down
DROP INDEX rooms_listing_idx;
