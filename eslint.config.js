// ESLint flat config: type-aware typescript-eslint rules, plus the determinism ban of
// DESIGN.md "Simulation model": model code never reads real time or real randomness.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const determinism = {
  'no-restricted-properties': [
    'error',
    { object: 'Math', property: 'random', message: 'Use the seeded RNG of src/sim/rng.ts.' },
    { object: 'performance', property: 'now', message: 'Use the virtual clock.' },
    { object: 'Date', property: 'now', message: 'Use the virtual clock.' },
  ],
  'no-restricted-globals': [
    'error',
    { name: 'Date', message: 'Use the virtual clock.' },
    { name: 'setTimeout', message: 'Use virtual-time timers of the scheduler.' },
    { name: 'setInterval', message: 'Use virtual-time timers of the scheduler.' },
    { name: 'setImmediate', message: 'Model code runs only under the scheduler.' },
    { name: 'performance', message: 'Use the virtual clock.' },
  ],
};

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'report/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      'require-yield': 'off',
      '@typescript-eslint/no-this-alias': ['error', { allowedNames: ['active'] }],
    },
  },
  {
    files: ['src/**/*.ts'],
    ignores: ['src/cli/**'],
    rules: determinism,
  },
  {
    files: ['**/*.js', '**/*.cjs', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    files: ['scripts/**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
  {
    files: ['**/*.cjs'],
    languageOptions: {
      sourceType: 'commonjs',
      globals: { module: 'writable', require: 'readonly' },
    },
  },
);
