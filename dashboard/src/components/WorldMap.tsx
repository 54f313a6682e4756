// A choropleth of the world from the TopoJSON shipped in `world-atlas` (no tiles, no network).
import countries from "i18n-iso-countries";
import { geoEqualEarth, geoPath } from "d3-geo";
import { useMemo, useState } from "react";
import { feature } from "topojson-client";
import type { FeatureCollection, Geometry } from "geojson";
import type { GeometryCollection, Topology } from "topojson-specification";
import atlas from "world-atlas/countries-110m.json";

const WIDTH = 960;
const HEIGHT = 470;

interface CountryProps {
  name: string;
}

const shapes = feature(
  atlas as unknown as Topology<{ countries: GeometryCollection<CountryProps> }>,
  (atlas as unknown as Topology<{ countries: GeometryCollection<CountryProps> }>).objects.countries,
) as unknown as FeatureCollection<Geometry, CountryProps>;

const projection = geoEqualEarth().fitExtent(
  [
    [4, 4],
    [WIDTH - 4, HEIGHT - 4],
  ],
  { type: "Sphere" },
);
const path = geoPath(projection);
const paths = shapes.features.map((f) => ({ id: String(f.id ?? ""), name: f.properties?.name ?? "", d: path(f) ?? "" }));
const sphere = path({ type: "Sphere" }) ?? "";

/** ISO 3166 alpha-2 ("DE") → the atlas's numeric id ("276"). */
export function numericId(alpha2: string): string | undefined {
  return countries.alpha2ToNumeric(alpha2.toUpperCase());
}

/** 0 → the quiet base colour, 1 → the strongest; square-root scaled so small values still show. */
export function shade(value: number, max: number): string {
  if (value <= 0 || max <= 0) return "var(--map-empty)";
  const t = Math.sqrt(Math.min(1, value / max));
  const from = [56, 66, 84];
  const to = [240, 82, 82];
  const mix = from.map((a, i) => Math.round(a + (to[i] - a) * t));
  return `rgb(${mix.join(",")})`;
}

export function WorldMap({ values, format, metricLabel }: { values: Record<string, number>; format: (v: number) => string; metricLabel: string }) {
  const [hover, setHover] = useState<{ name: string; value: number; x: number; y: number } | null>(null);
  const byNumeric = useMemo(() => {
    const out = new Map<string, number>();
    for (const [alpha2, value] of Object.entries(values)) {
      const id = numericId(alpha2);
      if (id) out.set(id, (out.get(id) ?? 0) + value);
    }
    return out;
  }, [values]);
  const max = Math.max(0, ...byNumeric.values());
  return (
    <div className="map" onMouseLeave={() => setHover(null)}>
      <svg viewBox={`0 0 ${WIDTH} ${HEIGHT}`} role="img" aria-label={`World map of ${metricLabel} by country`}>
        <path d={sphere} className="map-sphere" />
        {paths.map((p, i) => {
          const value = byNumeric.get(p.id) ?? 0;
          return (
            <path
              key={`${p.id}-${i}`}
              d={p.d}
              fill={shade(value, max)}
              className="map-country"
              data-country={p.id}
              onMouseMove={(e) => {
                const box = (e.currentTarget.ownerSVGElement as SVGSVGElement).getBoundingClientRect();
                setHover({ name: p.name, value, x: e.clientX - box.left, y: e.clientY - box.top });
              }}
            />
          );
        })}
      </svg>
      {hover && (
        <div className="map-tip" style={{ left: hover.x + 12, top: hover.y + 12 }}>
          <strong>{hover.name}</strong>
          <span>
            {metricLabel}: {format(hover.value)}
          </span>
        </div>
      )}
      <div className="map-legend" aria-hidden>
        <span>0</span>
        <span className="legend-bar" />
        <span>{format(max)}</span>
      </div>
    </div>
  );
}
