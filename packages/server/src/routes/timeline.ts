/**
 * What the dashboard draws: `GET /v1/timeline` (a lane per device), `GET /v1/trends` (the
 * farm over 24 hours) and `GET /v1/submissions/{id}/runs` (a CI build's page).
 */
import { IdParams, type Static, SubmissionRuns, Timeline, Trends, WindowQuery } from '@qgjob/protocol';
import type { FastifyInstance } from 'fastify';
import { allow } from '../http/auth.js';
import { errorResponses } from '../http/responses.js';
import { orgScope } from '../services/auth.js';
import type { SubmissionPageService } from '../services/submission-page.js';
import type { TimelineService } from '../services/timeline.js';
import type { TrendService } from '../services/trends.js';

const errors = errorResponses(400, 401, 403, 429);

export function timelineRoutes(
  app: FastifyInstance,
  views: { timeline: TimelineService; trends: TrendService; submissions: SubmissionPageService },
): void {
  app.get<{ Querystring: WindowQuery }>(
    '/v1/timeline',
    {
      schema: {
        summary: 'A lane per device: its batches in the window (group, install, runs), yields and health changes',
        tags: ['farm'],
        querystring: WindowQuery,
        response: { 200: Timeline, ...errors },
      },
    },
    (request) => views.timeline.timeline(request.query.window ?? '1h', orgScope(allow(request, 'org', 'admin'))),
  );

  app.get<{ Querystring: WindowQuery }>(
    '/v1/trends',
    {
      schema: {
        summary:
          'The farm per target once a minute over the window: queue depth, oldest wait, installs made and avoided, devices busy',
        description: 'Farm-wide counts (no org or build names), kept 24 hours.',
        tags: ['farm'],
        querystring: WindowQuery,
        response: { 200: Trends, ...errors },
      },
    },
    (request) => {
      allow(request, 'org', 'admin');
      return views.trends.trends(request.query.window ?? '24h');
    },
  );

  app.get<{ Params: Static<typeof IdParams> }>(
    '/v1/submissions/:id/runs',
    {
      schema: {
        summary: "A submission's jobs with every run (device, times, error, where it failed, files), failures first",
        tags: ['submissions'],
        params: IdParams,
        response: { 200: SubmissionRuns, ...errorResponses(400, 401, 403, 404, 429) },
      },
    },
    (request) => views.submissions.runs(request.params.id, orgScope(allow(request, 'org', 'admin'))),
  );
}
