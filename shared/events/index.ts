export * from './catalog';
export * from './currency';
export * from './envelope';
export * from './keys';
export * from './time';
export * from './validate';
export * from './decode';
