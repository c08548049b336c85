// Enforces the layer order of DESIGN.md "Layers": each layer imports only the layers
// listed before it (sim < mm < dma < drm < amdgpu < amdgpu/svm < scenario < explore <
// report < cli).
const layers = [
  'sim',
  'mm',
  'dma',
  'drm',
  'amdgpu',
  'amdgpu/svm',
  'scenario',
  'explore',
  'report',
  'cli',
];

/** Folders a module in `layer` must not import: every layer after it. */
function forbiddenFor(index) {
  return layers.slice(index + 1);
}

const rules = layers.flatMap((layer, index) => {
  const later = forbiddenFor(index);
  if (later.length === 0) return [];
  // amdgpu/ (the GPU) must not reach into amdgpu/svm/ (the driver under study).
  const fromPath = layer === 'amdgpu' ? '^src/amdgpu/(?!svm/)' : `^src/${layer}/`;
  return [
    {
      name: `layer-${layer.replace('/', '-')}`,
      comment: `src/${layer} may import only layers listed before it in DESIGN.md`,
      severity: 'error',
      from: { path: fromPath },
      to: { path: `^src/(${later.join('|')})/` },
    },
  ];
});

module.exports = {
  forbidden: [
    ...rules,
    {
      name: 'no-circular',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'src-not-to-test',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(test|bench)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
