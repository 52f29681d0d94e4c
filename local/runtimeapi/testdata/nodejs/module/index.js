// A .js file that package.json makes an ES module.
import { setTimeout as sleep } from "node:timers/promises";
export const handler = async () => { await sleep(1); return { typeModule: true }; };
