/** The error answers a route can give, for its OpenAPI schema: every one has the ErrorBody shape. */
import { ErrorBody } from '@qgjob/protocol';

export function errorResponses<S extends number>(...statuses: S[]): Record<S, typeof ErrorBody> {
  return Object.fromEntries(statuses.map((status) => [status, ErrorBody])) as Record<S, typeof ErrorBody>;
}
