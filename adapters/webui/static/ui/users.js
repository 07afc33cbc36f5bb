// Names of users by id, for the sections that show who sent or did something: one
// GET /users/{id} per user and page load, shared; an unknown or unreadable user shows as
// "someone".
const cache = new Map();

export function userName(ctx, id) {
  if (!id) return Promise.resolve('someone');
  if (!cache.has(id)) {
    cache.set(id, ctx.api('GET', '/users/' + encodeURIComponent(id))
      .then((u) => u.display_name || u.username)
      .catch(() => { cache.delete(id); return 'someone'; }));
  }
  return cache.get(id);
}

// nameInto fills node with the user's name once it is known.
export function nameInto(ctx, id, node) {
  userName(ctx, id).then((n) => { node.textContent = n; });
  return node;
}
