/**
 * Import boundaries (docs/ARCHITECTURE.md#layers): dependencies point one way, from the bottom
 * layer up, and no folder depends on itself through another. The layers are issue 14's.
 * Type-only imports count: a type imported up a layer ties the layers together as much as a value.
 */

/** Bottom to top; a module may import its own layer and the layers below it, never one above. */
const LAYERS = [
  { name: 'lib', paths: ['^src/lib/', '^src/pipeline/', '^src/text/'] },
  { name: 'core', paths: ['^src/(rag|providers|store|messaging|classify)/'] },
  { name: 'observability', paths: ['^src/observability/'] },
  { name: 'roles-features', paths: ['^src/(roles|features)/', '^src/eval/(?!(cli|harness)\\.ts$)'] },
  { name: 'http-api', paths: ['^src/http/'] },
  // The evaluation harness builds providers and handlers from the configuration, as a worker does: a composition root.
  { name: 'app', paths: ['^src/app/', '^src/eval/harness\\.ts$'] },
  { name: 'cli', paths: ['^src/cli/', '^src/eval/cli\\.ts$'] },
];

const upwardRules = LAYERS.slice(0, -1).map((layer, index) => ({
  name: `no-upward-from-${layer.name}`,
  comment: `${layer.name} may import only ${LAYERS.slice(0, index + 1)
    .map((below) => below.name)
    .join(', ')}`,
  severity: 'error',
  from: { path: layer.paths },
  to: { path: LAYERS.slice(index + 1).flatMap((above) => above.paths) },
}));

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    ...upwardRules,
    {
      name: 'no-folder-cycles',
      comment: 'a folder that reaches itself through another cannot be read, moved or tested alone',
      severity: 'error',
      scope: 'folder',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'no-module-cycles',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'src-not-to-tests',
      comment: 'the application never imports test, script or benchmark code',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(test|scripts|bench)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    includeOnly: '^(src|test|scripts|bench)/',
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.js', '.mjs', '.json'],
    },
  },
};
