/**
 * Route schemas are the protocol's TypeBox objects. Fastify asks this compiler for a
 * validator per schema; we answer with the protocol's own checks, so the server, the
 * CLI and the published OpenAPI document agree on every rule and every message.
 */
import { appRegisterErrors, submitErrors, type TSchema, validationErrors } from '@qgjob/protocol';
import { Value } from '@sinclair/typebox/value';
import type { FastifySchemaCompiler } from 'fastify';
import { ValidationError } from '../errors.js';

export const validatorCompiler: FastifySchemaCompiler<TSchema> = ({ schema, httpPart }) => {
  const custom = schema['x-qgjob-check'];
  const check =
    custom === 'submit'
      ? submitErrors
      : custom === 'app'
        ? appRegisterErrors
        : (v: unknown) => validationErrors(schema, v);
  const convert = httpPart === 'querystring' || httpPart === 'params';
  return (data: unknown) => {
    const value = convert ? Value.Convert(schema, data) : data;
    const errors = check(value);
    if (errors.length > 0) return { error: new ValidationError(errors) };
    return { value };
  };
};
