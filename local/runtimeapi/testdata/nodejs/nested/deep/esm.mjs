// An ES module two folders down, its handler nested in an object.
export const handlers = { main: async (event) => ({ esm: true, got: event.n }) };
