// GET /v1/openapi.json: the API's OpenAPI 3.1 document (gateway/api/openapi/), served without the admin key.
// It holds no secret and nothing about this deployment (it is built from the code alone, the same for every
// Stratus), every operation it lists still asks for its own credentials, and tools that read a spec —
// client generators, API explorers — fetch it before they have any key.

import express, { type Router } from 'express';
import { openApiDocument } from '../openapi/document.js';

export function openApiRouter(): Router {
  const router = express.Router();
  router.get('/openapi.json', (_req, res) => {
    res.setHeader('cache-control', 'no-cache');
    res.json(openApiDocument());
  });
  return router;
}
