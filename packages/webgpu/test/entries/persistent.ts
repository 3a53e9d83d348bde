// A browser entry for the conformance page: the built engine with the persistent recurrence kernel forced.
import { createBackend as create } from '../../dist/index.js';

export const createBackend = () => create({ recurrence: 'persistent' });
